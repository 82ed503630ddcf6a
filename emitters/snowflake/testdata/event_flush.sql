-- event table
PUT 'file:///tmp/streamhub-snowflake-2/dev.web.page_view+0+00000000000000000990.json.gz' @"analytics".%"dev_web_page_view"/streamhub/sf/ AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

CREATE OR REPLACE TEMPORARY TABLE "_streamhub_stage" ("topic" varchar, "partition" integer, "offset" bigint, "key" varchar, "timestamp" timestamp_tz, "headers" variant, "value" variant, "event_name" varchar, "occurred_at" timestamp_tz, "_streamhub_updated_at" timestamp_tz);

BEGIN;

-- counts: copy
COPY INTO "_streamhub_stage" FROM @"analytics".%"dev_web_page_view"/streamhub/sf/ FILES = ('dev.web.page_view+0+00000000000000000990.json.gz') FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE;

-- counts: insert
INSERT INTO "analytics"."dev_web_page_view" ("topic", "partition", "offset", "key", "timestamp", "headers", "value", "event_name", "occurred_at", "_streamhub_updated_at") SELECT "s"."topic", "s"."partition", "s"."offset", "s"."key", "s"."timestamp", "s"."headers", "s"."value", "s"."event_name", "s"."occurred_at", "s"."_streamhub_updated_at" FROM "_streamhub_stage" AS "s" WHERE NOT EXISTS (SELECT 1 FROM "analytics"."dev_web_page_view" AS "t" WHERE "t"."partition" = "s"."partition" AND "t"."offset" = "s"."offset");

DELETE FROM "analytics"."_streamhub_offsets" WHERE "sink" = 'sf' AND "topic" = 'dev.web.page_view' AND "partition" = 0;

INSERT INTO "analytics"."_streamhub_offsets" ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES ('sf', 'dev.web.page_view', NULL, 0, 1000, '2026-01-02T03:04:05.678901Z');

COMMIT;

-- nothing to stage
BEGIN;

DELETE FROM "analytics"."_streamhub_offsets" WHERE "sink" = 'sf' AND "topic" = 'dev.web.page_view' AND "partition" = 1;

INSERT INTO "analytics"."_streamhub_offsets" ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES ('sf', 'dev.web.page_view', 'Zm9v', 1, 7, '2026-01-02T03:04:05.678901Z');

COMMIT;

