//! Moving from one registry endpoint to the next (the order is
//! `endpoints`'): any failure at a mirror falls through, as moby's does; an
//! insecure registry's HTTPS attempt falls through to plain HTTP only when
//! it got no HTTP answer at all, so a registry that speaks TLS is never
//! retried in the clear after, say, a 404. The last failure is the answer.
//!
//! Owns that rule and the loop; it must never pick endpoints or speak to a
//! registry itself.

use std::future::Future;

use super::endpoints::{Endpoint, Transport};
use super::reference::ImageRef;
use super::registry::RegistryError;

/// An error an endpoint's attempt ended with: may the next endpoint be
/// tried?
pub trait AttemptError: std::fmt::Display {
    /// The registry's part of the failure, if it was the registry's.
    fn registry_error(&self) -> Option<&RegistryError>;
}

impl AttemptError for RegistryError {
    fn registry_error(&self) -> Option<&RegistryError> {
        Some(self)
    }
}

fn falls_through(endpoint: &Endpoint, e: &impl AttemptError) -> bool {
    endpoint.mirror.is_some()
        || (endpoint.transport == Transport::HttpsUnverified && e.registry_error().is_some_and(|r| r.is_transport()))
}

/// Runs `attempt` at each endpoint in turn until one succeeds or one fails
/// in a way that must not fall through; the last failure is the answer.
/// (`attempt` takes the endpoint by value: a future borrowing it would not
/// be `Send` for every lifetime, which the API's tasks need.)
pub async fn try_each<T, E: AttemptError, Fut: Future<Output = Result<T, E>>>(
    endpoints: &[Endpoint],
    target: &ImageRef,
    mut attempt: impl FnMut(Endpoint) -> Fut,
) -> Result<T, E> {
    let (last, rest) = endpoints.split_last().unwrap_or_else(|| unreachable!("every lookup yields an endpoint"));
    for endpoint in rest {
        match attempt(endpoint.clone()).await {
            Ok(v) => return Ok(v),
            Err(e) if falls_through(endpoint, &e) => {
                tracing::info!(%target, endpoint = %endpoint.describe(target), error = %e, "attempting the next endpoint after an error");
            }
            Err(e) => return Err(e),
        }
    }
    attempt(last.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> ImageRef {
        ImageRef::parse("busybox").expect("reference")
    }

    fn refused() -> RegistryError {
        RegistryError::NotFound { what: "manifest", reference: "busybox".into() }
    }

    #[tokio::test]
    async fn a_mirror_failure_falls_through_and_the_last_failure_is_the_answer() {
        let eps = [
            Endpoint { mirror: Some("127.0.0.1:1".into()), transport: Transport::Http },
            Endpoint { mirror: None, transport: Transport::Https },
        ];
        let mut tried = Vec::new();
        let got: Result<(), _> = try_each(&eps, &r(), |ep| {
            tried.push(ep.mirror.clone());
            async move {
                Err(RegistryError::Protocol { registry: format!("{:?}", ep.mirror), what: "x", reason: "y".into() })
            }
        })
        .await;
        assert_eq!(tried, [Some("127.0.0.1:1".to_string()), None]);
        assert!(got.unwrap_err().to_string().contains("None"), "the Hub's failure is reported");
    }

    #[tokio::test]
    async fn an_answer_over_tls_is_never_retried_in_the_clear() {
        let eps = [
            Endpoint { mirror: None, transport: Transport::HttpsUnverified },
            Endpoint { mirror: None, transport: Transport::Http },
        ];
        let mut tried = Vec::new();
        let got: Result<(), _> = try_each(&eps, &r(), |ep| {
            tried.push(ep.transport);
            async { Err(refused()) }
        })
        .await;
        assert_eq!(tried, [Transport::HttpsUnverified], "a 404 over HTTPS is the answer");
        assert!(matches!(got, Err(RegistryError::NotFound { .. })));
        let ok = try_each(&eps, &r(), |_| async { Ok::<_, RegistryError>(7) }).await;
        assert_eq!(ok.unwrap(), 7);
    }
}
