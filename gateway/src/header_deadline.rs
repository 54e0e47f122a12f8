//! The deadline and the size limit of a connection's first request
//! headers, with answers: hyper's own header timeout closes the connection
//! silently and its 431 is plain text, so before handing a connection to
//! hyper the server reads until the headers end. A client still sending
//! them after [`HEADER_READ_TIMEOUT`] gets 408, one whose headers pass
//! [`MAX_HEADER_BYTES`] gets 431, both as problem+json, and the connection
//! is closed. Later requests on a kept alive connection fall under hyper's
//! limits.

use crate::server::{HEADER_READ_TIMEOUT, MAX_HEADER_BYTES};
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

/// A connection whose first bytes were read ahead: they are read again
/// first, then the socket.
pub struct ReadAhead {
    ahead: Vec<u8>,
    at: usize,
    stream: TcpStream,
}

/// How reading the first headers ended.
enum Headers {
    Complete,
    TooLarge,
    Gone,
}

/// Waits for the end of the first request's headers. `None` when the
/// client left, or was answered 408 or 431.
pub async fn first_headers(mut stream: TcpStream) -> Option<ReadAhead> {
    let mut ahead = Vec::with_capacity(1024);
    let read = tokio::time::timeout(HEADER_READ_TIMEOUT, async {
        let (mut chunk, mut searched) = ([0u8; 4096], 0usize);
        loop {
            // Only the bytes not searched yet (and the 3 before them).
            if ahead[searched.saturating_sub(3)..].windows(4).any(|w| w == b"\r\n\r\n") {
                return Headers::Complete;
            }
            searched = ahead.len();
            if ahead.len() >= MAX_HEADER_BYTES {
                return Headers::TooLarge;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Headers::Gone,
                Ok(n) => ahead.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let refusal = match read {
        Ok(Headers::Complete) => return Some(ReadAhead { ahead, at: 0, stream }),
        Ok(Headers::Gone) => return None,
        Ok(Headers::TooLarge) => problem(
            "431 Request Header Fields Too Large",
            "request-header-fields-too-large",
            format!("the request headers are over {} KB", MAX_HEADER_BYTES / 1024),
        ),
        Err(_) => problem(
            "408 Request Timeout",
            "request-timeout",
            format!(
                "the request headers did not arrive within {} s",
                HEADER_READ_TIMEOUT.as_secs()
            ),
        ),
    };
    let _ = stream.write_all(&refusal).await;
    let _ = stream.shutdown().await;
    None
}

/// A whole HTTP/1.1 answer with a problem+json body, closing the
/// connection. `status` is the code and its reason phrase.
fn problem(status: &str, slug: &str, detail: String) -> Vec<u8> {
    let (code, title) = status.split_once(' ').unwrap_or((status, ""));
    let body = serde_json::json!({
        "type": format!("/problems/{slug}"),
        "title": title,
        "status": code.parse::<u16>().unwrap_or_default(),
        "detail": detail,
    })
    .to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl AsyncRead for ReadAhead {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.ahead.len() {
            let n = buf.remaining().min(this.ahead.len() - this.at);
            buf.put_slice(&this.ahead[this.at..this.at + n]);
            this.at += n;
            if this.at == this.ahead.len() {
                this.ahead = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReadAhead {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
