//! `ApiGatewayPush`: frames to the console's WebSocket connections through API Gateway's
//! management API (`POST /@connections/{id}`).

use crate::ports::{Push, PushError};
use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

pub struct ApiGatewayPush {
    client: Client,
}

impl ApiGatewayPush {
    /// `client` from `aws::connections` (the stage's endpoint).
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Push for ApiGatewayPush {
    async fn push(&self, connection: &str, frame: &str) -> Result<(), PushError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection)
            .data(Blob::new(frame.as_bytes()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // 410: the page went away without API Gateway telling us yet.
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PostToConnectionError::GoneException(_)) =>
            {
                Err(PushError::Gone)
            }
            Err(e) => Err(PushError::Failed(DisplayErrorContext(&e).to_string())),
        }
    }
}
