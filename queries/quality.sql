-- name: DataQualityEventInsert :exec
INSERT INTO data_quality_events (collection_id, source, kind, operation, message, job_id)
VALUES (@collection_id, @source, @kind, @operation, @message, @job_id);

-- name: DataQualityEventList :many
SELECT * FROM data_quality_events WHERE collection_id = @collection_id ORDER BY id;
