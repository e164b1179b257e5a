-- The process holding an upload's write claim (host, boot, PID namespace, PID,
-- start time), so a claim left by a process that is gone is taken over at once.
ALTER TABLE blobupload ADD COLUMN lock_holder TEXT;
