"""The log as a product (issue 11): raw log access, audit history, tamper evidence."""
