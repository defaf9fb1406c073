//! `S3MediaStore`: files in an S3 bucket (encrypted at rest, public access blocked, expired by
//! the bucket's lifecycle after the retention period), handed out as presigned GET links.

use crate::ports::{MediaStore, StoreError};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, ServerSideEncryption};

fn unavailable(e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

pub struct S3MediaStore {
    client: Client,
    bucket: String,
}

impl S3MediaStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn link(&self, key: &str, valid_for: std::time::Duration) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(valid_for).map_err(unavailable)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(unavailable)?;
        Ok(request.uri().to_owned())
    }

    async fn erase_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let mut erased = 0;
        let mut token: Option<String> = None;
        loop {
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(unavailable)?;
            let objects: Vec<ObjectIdentifier> = listed
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            if !objects.is_empty() {
                let count = objects.len();
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(unavailable)?;
                let deleted = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(unavailable)?;
                if !deleted.errors().is_empty() {
                    return Err(StoreError::Unavailable(format!(
                        "{} object(s) could not be deleted; erase again",
                        deleted.errors().len()
                    )));
                }
                erased += count;
            }
            match listed.next_continuation_token() {
                Some(next) if listed.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(erased)
    }
}
