-- state table DDL
CREATE TABLE IF NOT EXISTS "analytics"."user_profiles" (
  "userid" text,
  "sk" text,
  "key" text COLLATE "C" NOT NULL,
  "doc" jsonb,
  "deleted_at" timestamptz,
  "version_key" text COLLATE "C" NOT NULL,
  "version_seq" text,
  "version_created_at" timestamptz,
  "_streamhub_updated_at" timestamptz NOT NULL,
  "email" text,
  "age" bigint,
  "prefs" jsonb,
  PRIMARY KEY ("key")
);

ALTER TABLE "analytics"."user_profiles" ADD COLUMN IF NOT EXISTS "email" text;

ALTER TABLE "analytics"."user_profiles" ADD COLUMN IF NOT EXISTS "age" bigint;

ALTER TABLE "analytics"."user_profiles" ADD COLUMN IF NOT EXISTS "prefs" jsonb;

-- event table DDL
CREATE TABLE IF NOT EXISTS "analytics"."dev_web_page_view" (
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "offset" bigint NOT NULL,
  "key" text,
  "timestamp" timestamptz,
  "headers" jsonb,
  "value" jsonb,
  "event_name" text,
  "occurred_at" timestamptz,
  "_streamhub_updated_at" timestamptz NOT NULL,
  PRIMARY KEY ("partition", "offset")
);

-- offsets DDL
CREATE TABLE IF NOT EXISTS "analytics"."_streamhub_offsets" (
  "sink" text NOT NULL,
  "topic" text NOT NULL,
  "topic_id" text,
  "partition" integer NOT NULL,
  "next_offset" bigint NOT NULL,
  "updated_at" timestamptz NOT NULL,
  PRIMARY KEY ("sink", "topic", "partition")
);

-- stage DDL
CREATE TEMP TABLE "_streamhub_stage" ("userid" text, "sk" text, "key" text, "doc" jsonb, "deleted" boolean, "version_key" text COLLATE "C", "version_seq" text, "version_created_at" timestamptz, "_streamhub_updated_at" timestamptz, "email" text, "age" bigint, "prefs" jsonb) ON COMMIT DROP;

-- upsert, soft deletes
UPDATE "analytics"."user_profiles" SET "doc" = "n"."doc", "deleted_at" = NULL, "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = "n"."email", "age" = "n"."age", "prefs" = "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND NOT "n"."deleted";

UPDATE "analytics"."user_profiles" SET "doc" = NULL, "deleted_at" = "n"."version_created_at", "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = NULL, "age" = NULL, "prefs" = NULL FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND "n"."deleted";

INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", "n"."doc", NULL, "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", "n"."email", "n"."age", "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE NOT "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", NULL, "n"."version_created_at", "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", NULL, NULL, NULL FROM "_streamhub_stage" AS "n" WHERE "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

-- upsert, hard deletes
UPDATE "analytics"."user_profiles" SET "doc" = "n"."doc", "deleted_at" = NULL, "version_key" = "n"."version_key", "version_seq" = "n"."version_seq", "version_created_at" = "n"."version_created_at", "_streamhub_updated_at" = "n"."_streamhub_updated_at", "email" = "n"."email", "age" = "n"."age", "prefs" = "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND NOT "n"."deleted";

DELETE FROM "analytics"."user_profiles" USING "_streamhub_stage" AS "n" WHERE "analytics"."user_profiles"."key" = "n"."key" AND "n"."version_key" > "analytics"."user_profiles"."version_key" AND "n"."deleted";

INSERT INTO "analytics"."user_profiles" ("userid", "sk", "key", "doc", "deleted_at", "version_key", "version_seq", "version_created_at", "_streamhub_updated_at", "email", "age", "prefs") SELECT "n"."userid", "n"."sk", "n"."key", "n"."doc", NULL, "n"."version_key", "n"."version_seq", "n"."version_created_at", "n"."_streamhub_updated_at", "n"."email", "n"."age", "n"."prefs" FROM "_streamhub_stage" AS "n" WHERE NOT "n"."deleted" AND NOT EXISTS (SELECT 1 FROM "analytics"."user_profiles" AS "t" WHERE "t"."key" = "n"."key");

-- event append
INSERT INTO "analytics"."dev_web_page_view" ("topic", "partition", "offset", "key", "timestamp", "headers", "value", "event_name", "occurred_at", "_streamhub_updated_at") SELECT "topic", "partition", "offset", "key", "timestamp", "headers", "value", "event_name", "occurred_at", "_streamhub_updated_at" FROM "_streamhub_stage" ON CONFLICT ("partition", "offset") DO NOTHING;
