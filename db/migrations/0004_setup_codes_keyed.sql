-- Setup and recovery codes are now 20 symbols (90 random bits) and stored as HMAC-SHA256
-- under the key file beside the database, instead of an unsalted SHA-256 of a 10-symbol
-- code. Codes issued before cannot be checked any more: they live at most a day, so they
-- are voided here and the admin issues new ones. attempts_left now counts wrong emails
-- typed with the right code.
DELETE FROM setup_codes;
