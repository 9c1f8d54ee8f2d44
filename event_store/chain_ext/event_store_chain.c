/*
 * event_store_chain: a batch's data hashes and links in one call (issue 11: the chain may
 * cost appends at most 10 %).
 *
 * event_batch_hashes(prev, stream, base, recorded_us, batch) returns, for each event of
 * `batch` (the JSON array an append sends: objects with id, type, data, meta), 64 bytes:
 * its data hash and its link, byte for byte what the SQL functions of migrations 0011 and
 * 0040 give (event_data_hash, event_link_fields, event_links):
 *
 *   data_hash = sha256(data::text)
 *   link      = sha256(previous link || id::text \n stream \n version::text \n type \n
 *                      meta::text \n recorded_us || data_hash)
 *
 * with version = base + the event's ordinal and the first previous link `prev` (none for a
 * new stream). The SQL computes the same with a digest call per hash, a text per field and
 * a PL/pgSQL loop; here SHA-256 is fetched once per backend, one context serves every
 * digest, and each link's input is built in one buffer. Optional: without this library
 * the append statements chain in SQL (migration 0044). Built by ./build.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "common/sha2.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(event_batch_hashes);

static JsonbValue *
member(JsonbContainer *object, const char *key, int i)
{
	JsonbValue *value = getKeyJsonValueFromContainer(object, key, strlen(key), NULL);

	if (value == NULL || value->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event %d of the batch has no \"%s\"", i + 1, key)));
	return value;
}

static const char *
string_member(JsonbContainer *object, const char *key, int i, int *len)
{
	JsonbValue *value = member(object, key, i);

	if (value->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event %d of the batch: \"%s\" is not a string", i + 1, key)));
	*len = value->val.string.len;
	return value->val.string.val;
}

/* jsonb's canonical text of a value, as value::text gives it */
static void
append_jsonb_text(StringInfo out, JsonbValue *value)
{
	if (value->type == jbvBinary)
		JsonbToCString(out, value->val.binary.data, value->val.binary.len);
	else
	{
		Jsonb	   *scalar = JsonbValueToJsonb(value);

		JsonbToCString(out, &scalar->root, VARSIZE(scalar));
	}
}

/*
 * OpenSSL's SHA-256, fetched once per backend: PostgreSQL's sha256() looks the algorithm
 * up again for every digest, which cost more than the hashing itself here.
 */
static const EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *sha256_ctx = NULL;

static void
digest(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 *dest)
{
	unsigned int len;

	if (sha256_md == NULL)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256_ctx == NULL)
		sha256_ctx = EVP_MD_CTX_new();
	if (sha256_md == NULL || sha256_ctx == NULL ||
		!EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) ||
		!EVP_DigestUpdate(sha256_ctx, a, alen) ||
		(blen > 0 && !EVP_DigestUpdate(sha256_ctx, b, blen)) ||
		!EVP_DigestFinal_ex(sha256_ctx, dest, &len) || len != PG_SHA256_DIGEST_LENGTH)
		elog(ERROR, "could not compute a SHA-256 digest");
}

/* A uuid's text as uuid_out writes it: lowercase, hyphens at 8, 13, 18 and 23. */
static bool
is_canonical_uuid(const char *s, int len)
{
	if (len != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		char		c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
		}
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

Datum
event_batch_hashes(PG_FUNCTION_ARGS)
{
	bytea	   *prev;
	text	   *stream;
	int64		base;
	text	   *recorded_us;
	Jsonb	   *batch;
	int			n;
	bytea	   *result;
	uint8	   *out;
	uint8		link[PG_SHA256_DIGEST_LENGTH];
	bool		first = true;
	StringInfoData buf;
	StringInfoData input;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_NULL();
	prev = PG_ARGISNULL(0) ? NULL : PG_GETARG_BYTEA_PP(0);
	stream = PG_GETARG_TEXT_PP(1);
	base = PG_GETARG_INT64(2);
	recorded_us = PG_GETARG_TEXT_PP(3);
	batch = PG_GETARG_JSONB_P(4);
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("event_batch_hashes needs a UTF8 database")));
	if (!JB_ROOT_IS_ARRAY(batch) || JB_ROOT_IS_SCALAR(batch))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the batch is not a JSON array")));
	n = JB_ROOT_COUNT(batch);

	result = (bytea *) palloc(VARHDRSZ + (Size) n * 2 * PG_SHA256_DIGEST_LENGTH);
	SET_VARSIZE(result, VARHDRSZ + n * 2 * PG_SHA256_DIGEST_LENGTH);
	out = (uint8 *) VARDATA(result);
	initStringInfo(&buf);
	initStringInfo(&input);

	for (int i = 0; i < n; i++)
	{
		JsonbValue *event = getIthJsonbValueFromContainer(&batch->root, i);
		JsonbContainer *object;
		const char *id;
		const char *type;
		int			id_len;
		int			type_len;
		char	   *id_text;
		uint8	   *data_hash = out + i * 2 * PG_SHA256_DIGEST_LENGTH;

		if (event == NULL || event->type != jbvBinary ||
			!JsonContainerIsObject(event->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event %d of the batch is not a JSON object", i + 1)));
		object = event->val.binary.data;

		/* the data's hash */
		resetStringInfo(&buf);
		append_jsonb_text(&buf, member(object, "data", i));
		digest((uint8 *) buf.data, buf.len, NULL, 0, data_hash);

		/* the link's input: the fields' text, then the data's hash */
		id = string_member(object, "id", i, &id_len);
		if (is_canonical_uuid(id, id_len))
			id_text = pnstrdup(id, id_len);
		else
			id_text = DatumGetCString(DirectFunctionCall1(uuid_out,
				DirectFunctionCall1(uuid_in, CStringGetDatum(pnstrdup(id, id_len)))));
		type = string_member(object, "type", i, &type_len);
		resetStringInfo(&input);
		appendStringInfoString(&input, id_text);
		appendStringInfoChar(&input, '\n');
		appendBinaryStringInfo(&input, VARDATA_ANY(stream), VARSIZE_ANY_EXHDR(stream));
		appendStringInfo(&input, "\n" INT64_FORMAT "\n", base + i + 1);
		appendBinaryStringInfo(&input, type, type_len);
		appendStringInfoChar(&input, '\n');
		append_jsonb_text(&input, member(object, "meta", i));
		appendStringInfoChar(&input, '\n');
		appendBinaryStringInfo(&input, VARDATA_ANY(recorded_us),
							   VARSIZE_ANY_EXHDR(recorded_us));
		appendBinaryStringInfo(&input, (char *) data_hash, PG_SHA256_DIGEST_LENGTH);

		/* the link: sha256(previous link || input) */
		if (first)
		{
			if (prev != NULL)
				digest((uint8 *) VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev),
					   (uint8 *) input.data, input.len, link);
			else
				digest((uint8 *) input.data, input.len, NULL, 0, link);
			first = false;
		}
		else
			digest(link, PG_SHA256_DIGEST_LENGTH, (uint8 *) input.data, input.len,
				   link);
		memcpy(data_hash + PG_SHA256_DIGEST_LENGTH, link, PG_SHA256_DIGEST_LENGTH);
		pfree(event);
		pfree(id_text);
	}
	PG_RETURN_BYTEA_P(result);
}
