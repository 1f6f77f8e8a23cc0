//! The function's one HTTP client: hyper with rustls on aws-lc (the AWS SDK's own stack), built on
//! first use and shared by every AWS client and the CloudFormation response PUT, so a cold start
//! loads one trust store, builds one TLS configuration and keeps one connection pool.

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A TCP connection not made in this long is given up (a request gets another try if time remains).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The shared connector, made on its first use.
#[derive(Debug, Default)]
pub struct Http {
    connector: OnceLock<SharedHttpConnector>,
}

impl Http {
    pub fn new() -> Arc<Http> {
        Arc::new(Http::default())
    }

    fn connector(&self) -> SharedHttpConnector {
        self.connector
            .get_or_init(|| {
                let settings = HttpConnectorSettings::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build();
                SharedHttpConnector::new(
                    Connector::builder()
                        .connector_settings(settings)
                        .tls_provider(tls::Provider::rustls(CryptoMode::AwsLc))
                        .build(),
                )
            })
            .clone()
    }

    /// The client for the AWS SDK: always this connector (the SDK's per-attempt timeout still
    /// applies; the connect timeout is this connector's).
    pub fn sdk_client(self: &Arc<Self>) -> SharedHttpClient {
        let me = self.clone();
        http_client_fn(move |_, _| me.connector())
    }

    /// PUTs `body` to `url` with an empty `Content-Type` (what a pre-signed S3 URL is signed for) and
    /// its `Content-Length`; answers the HTTP status. Never follows a redirect. The error never
    /// contains the URL's query (the signature).
    pub async fn put(&self, url: &url::Url, body: Vec<u8>, timeout: Duration) -> Result<u16, String> {
        let mut request = HttpRequest::new(SdkBody::from(body.clone()));
        request.set_method("PUT").map_err(|e| e.to_string())?;
        request
            .set_uri(url.as_str())
            .map_err(|_| "the response URL is not a valid URI".to_string())?;
        request.headers_mut().insert("content-type", "");
        request.headers_mut().insert("content-length", body.len().to_string());
        let sent = tokio::time::timeout(timeout, self.connector().call(request)).await;
        let redact = |message: String| match url.query() {
            Some(q) if !q.is_empty() => message.replace(q, "<redacted>"),
            _ => message,
        };
        match sent {
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            Ok(Err(e)) => Err(redact(
                aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            )),
            Ok(Ok(response)) => Ok(response.status().as_u16()),
        }
    }
}
