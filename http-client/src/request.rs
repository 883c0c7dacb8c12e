//! One request as a caller describes it: method, path (with its query),
//! headers and an optional body, JSON or bytes.
//!
//! Owns building the request; it must never dial or send anything.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Method;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderName, HeaderValue, UPGRADE};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// A JSON body that did not serialize; reported when the request is sent.
    invalid: Option<String>,
}

impl Request {
    /// `path` is the request target: `/containers/json?all=1`.
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request { method, path: path.into(), headers: Vec::new(), body: Bytes::new(), invalid: None }
    }

    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `value` as the JSON body, with its content type.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Request {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body.into(),
            Err(e) => self.invalid = Some(format!("the JSON body: {e}")),
        }
        self.header(CONTENT_TYPE.as_str(), "application/json")
    }

    pub fn bytes(mut self, content_type: &str, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self.header(CONTENT_TYPE.as_str(), content_type)
    }

    /// Asks the server to switch this connection to `protocol` (Docker's
    /// hijack: `Upgrade: tcp`); see `Response::upgrade`.
    pub fn upgrade(self, protocol: &str) -> Request {
        self.header(CONNECTION.as_str(), "Upgrade").header(UPGRADE.as_str(), protocol)
    }

    /// `METHOD path`, naming the exchange in errors.
    pub(crate) fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub(crate) fn build(self, host: &str) -> Result<hyper::Request<Full<Bytes>>, Error> {
        let what = self.what();
        let invalid = |reason: String| Error::Request { what: what.clone(), reason };
        if let Some(reason) = self.invalid {
            return Err(invalid(reason));
        }
        let mut req = hyper::Request::builder().method(self.method).uri(self.path.as_str());
        let headers = req.headers_mut().ok_or_else(|| invalid(format!("the path {:?}", self.path)))?;
        headers.insert(HOST, HeaderValue::from_str(host).map_err(|e| invalid(format!("Host {host:?}: {e}")))?);
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(format!("header {name:?}: {e}")))?;
            let v = HeaderValue::from_str(value).map_err(|e| invalid(format!("header {name}: {e}")))?;
            headers.append(n, v);
        }
        req.body(Full::new(self.body)).map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_json_request_carries_its_body_type_and_host() {
        use http_body_util::BodyExt;
        let req = Request::post("/auth").json(&serde_json::json!({"username": "u"})).build("berth").unwrap();
        assert_eq!(req.uri(), "/auth");
        assert_eq!(req.headers()["host"], "berth");
        assert_eq!(req.headers()["content-type"], "application/json");
        let body = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, Bytes::from_static(br#"{"username":"u"}"#));
    }

    #[test]
    fn a_bad_header_or_path_is_an_error_naming_the_request() {
        let e = Request::get("/x").header("X-Bad", "a\nb").build("berth").unwrap_err();
        assert!(e.to_string().starts_with("GET /x: invalid request: header X-Bad"), "{e}");
        let e = Request::get("no spaces allowed").build("berth").unwrap_err();
        assert!(matches!(e, Error::Request { .. }), "{e}");
    }
}
