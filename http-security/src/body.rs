//! Request bodies under a deadline. A request's body must arrive within the
//! listener's `<prefix>.idle.timeout.ms` of its headers ([`TimedBody`]), so a
//! client that announces a body and then sends it slowly, or not at all, holds
//! a connection and a handler for that long at most. [`buffer`] reads a whole
//! body under a size bound and says which bound it broke, for the apps to
//! answer in their own error format (413, 408, or 400 for a broken stream).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};

/// The largest request body the registry and the console read (axum's default
/// bound of its body extractors).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The body of a request that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} ms")]
pub struct BodyTimeout(pub u128);

/// [`Incoming`] with a deadline that runs from when the headers were read. A
/// body that is already complete (none, or all in the first read) has no timer.
pub struct TimedBody {
    inner: Incoming,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
}

impl TimedBody {
    pub fn new(inner: Incoming, timeout: Duration) -> TimedBody {
        let deadline = (!hyper::body::Body::is_end_stream(&inner)).then(|| Box::pin(tokio::time::sleep(timeout)));
        TimedBody { inner, deadline, timeout }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout.as_millis()))))),
                _ => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a body could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the bound (413).
    TooLarge { limit: usize },
    /// Not sent within the listener's timeout (408).
    TimedOut(String),
    /// The stream broke (400).
    Broken(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyError::TooLarge { limit } => format!("the request body is larger than {limit} bytes"),
            BodyError::TimedOut(m) | BodyError::Broken(m) => m.clone(),
        }
    }

    /// What a body error (of [`TimedBody`], or of a length limit, found
    /// anywhere in `e`'s chain of sources) was.
    fn classify(e: &(dyn std::error::Error + 'static), limit: usize) -> BodyError {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(t) = err.downcast_ref::<BodyTimeout>() {
                return BodyError::TimedOut(t.to_string());
            }
            if err.is::<http_body_util::LengthLimitError>() {
                return BodyError::TooLarge { limit };
            }
            cur = err.source();
        }
        BodyError::Broken(format!("the request body could not be read: {e}"))
    }
}

/// The body of a middleware (`axum::middleware::from_fn`) that reads the whole
/// body of a POST, PUT or PATCH (at most [`BODY_LIMIT`]) before routing, so that
/// one too large or too slow is answered by `refuse` in the app's own error form
/// like any other error.
pub async fn read_whole(req: Request, next: Next, refuse: impl FnOnce(BodyError) -> Response) -> Response {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return next.run(req).await;
    }
    match buffer(req, BODY_LIMIT).await {
        Ok((req, _)) => next.run(req).await,
        Err(e) => refuse(e),
    }
}

/// Reads `req`'s whole body (at most `limit` bytes) and hands back the request
/// with it in memory.
pub async fn buffer(req: Request, limit: usize) -> Result<(Request, Bytes), BodyError> {
    let (parts, body) = req.into_parts();
    // A Content-Length over the bound is refused before any of the body is waited for.
    if hyper::body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| BodyError::classify(&e, limit))?;
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}
