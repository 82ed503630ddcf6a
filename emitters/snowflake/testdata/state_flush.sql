-- state table, soft deletes
PUT 'file:///tmp/streamhub-snowflake-1/dev.user-profiles.state-table+3+00000000000000000017.json.gz' @"analytics".%"user_profiles"/streamhub/sf/ AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

CREATE OR REPLACE TEMPORARY TABLE "_streamhub_stage" ("userid" varchar, "sk" varchar, "key" varchar, "doc" variant, "deleted" boolean, "version_key" varchar, "version_seq" varchar, "version_created_at" timestamp_tz, "_streamhub_updated_at" timestamp_tz, "email" varchar, "age" bigint, "prefs" variant);

BEGIN;

-- counts: copy
COPY INTO "_streamhub_stage" FROM @"analytics".%"user_profiles"/streamhub/sf/ FILES = ('dev.user-profiles.state-table+3+00000000000000000017.json.gz') FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE;

-- counts: update
UPDATE "analytics"."user_profiles" SET "doc" = "n"."doc", "deleted_at" = NULL, "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = "n"."email", "age" = "n"."age", "prefs" = "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND NOT "n"."deleted";

-- counts: delete
UPDATE "analytics"."user_profiles" SET "doc" = NULL, "deleted_at" = "n"."version_created_at", "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = NULL, "age" = NULL, "prefs" = NULL FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND "n"."deleted";

-- counts: insert
INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", "n"."doc", NULL, "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", "n"."email", "n"."age", "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE NOT "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

-- counts: delete
INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", NULL, "n"."version_created_at", "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", NULL, NULL, NULL FROM "_streamhub_stage" AS "n" WHERE "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

DELETE FROM "analytics"."_streamhub_offsets" WHERE "sink" = 'sf' AND "topic" = 'dev.user-profiles.state-table' AND "partition" = 3;

INSERT INTO "analytics"."_streamhub_offsets" ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES ('sf', 'dev.user-profiles.state-table', NULL, 3, 42, '2026-01-02T03:04:05.678901Z');

COMMIT;

-- state table, hard deletes
PUT 'file:///tmp/streamhub-snowflake-1/dev.user-profiles.state-table+3+00000000000000000017.json.gz' @"analytics".%"user_profiles"/streamhub/sf/ AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

CREATE OR REPLACE TEMPORARY TABLE "_streamhub_stage" ("userid" varchar, "sk" varchar, "key" varchar, "doc" variant, "deleted" boolean, "version_key" varchar, "version_seq" varchar, "version_created_at" timestamp_tz, "_streamhub_updated_at" timestamp_tz, "email" varchar, "age" bigint, "prefs" variant);

BEGIN;

-- counts: copy
COPY INTO "_streamhub_stage" FROM @"analytics".%"user_profiles"/streamhub/sf/ FILES = ('dev.user-profiles.state-table+3+00000000000000000017.json.gz') FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE;

-- counts: update
UPDATE "analytics"."user_profiles" SET "doc" = "n"."doc", "deleted_at" = NULL, "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = "n"."email", "age" = "n"."age", "prefs" = "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND NOT "n"."deleted";

-- counts: delete
DELETE FROM "analytics"."user_profiles" USING "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND "n"."deleted";

-- counts: insert
INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", "n"."doc", NULL, "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", "n"."email", "n"."age", "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE NOT "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

DELETE FROM "analytics"."_streamhub_offsets" WHERE "sink" = 'sf' AND "topic" = 'dev.user-profiles.state-table' AND "partition" = 3;

INSERT INTO "analytics"."_streamhub_offsets" ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES ('sf', 'dev.user-profiles.state-table', NULL, 3, 42, '2026-01-02T03:04:05.678901Z');

COMMIT;

-- state table, live changes only
PUT 'file:///tmp/streamhub-snowflake-1/dev.user-profiles.state-table+3+00000000000000000017.json.gz' @"analytics".%"user_profiles"/streamhub/sf/ AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

CREATE OR REPLACE TEMPORARY TABLE "_streamhub_stage" ("userid" varchar, "sk" varchar, "key" varchar, "doc" variant, "deleted" boolean, "version_key" varchar, "version_seq" varchar, "version_created_at" timestamp_tz, "_streamhub_updated_at" timestamp_tz, "email" varchar, "age" bigint, "prefs" variant);

BEGIN;

-- counts: copy
COPY INTO "_streamhub_stage" FROM @"analytics".%"user_profiles"/streamhub/sf/ FILES = ('dev.user-profiles.state-table+3+00000000000000000017.json.gz') FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE;

-- counts: update
UPDATE "analytics"."user_profiles" SET "doc" = "n"."doc", "deleted_at" = NULL, "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = "n"."email", "age" = "n"."age", "prefs" = "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND NOT "n"."deleted";

-- counts: insert
INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", "n"."doc", NULL, "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", "n"."email", "n"."age", "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE NOT "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

DELETE FROM "analytics"."_streamhub_offsets" WHERE "sink" = 'sf' AND "topic" = 'dev.user-profiles.state-table' AND "partition" = 3;

INSERT INTO "analytics"."_streamhub_offsets" ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES ('sf', 'dev.user-profiles.state-table', NULL, 3, 42, '2026-01-02T03:04:05.678901Z');

COMMIT;

