ALTER TABLE blobupload DROP COLUMN lock_holder;
