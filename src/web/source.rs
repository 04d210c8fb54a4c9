//! The browser's sources: a JS object `{ size, read() }` whose `read()` resolves to the next
//! `Uint8Array` of the file (or `null` at its end). `www/worker.js` makes one from a streamed
//! HTTP response or from a `File`/`Blob`; each chunk is copied into wasm memory once, in
//! pieces no larger than the loader asks for.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::source::{Source, SourceError};

/// A [`Source`] over a JS object with `size` (bytes, or null) and `read()`.
pub struct JsSource {
    object: JsValue,
    read: Function,
    size: Option<u64>,
    current: Option<Uint8Array>,
    offset: u32,
}

impl JsSource {
    /// Wraps `object`; an error when it has no `read` method.
    pub fn new(object: JsValue) -> Result<Self, SourceError> {
        let read = Reflect::get(&object, &"read".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| SourceError::Io("the model source has no read() method".into()))?;
        let size = Reflect::get(&object, &"size".into())
            .ok()
            .and_then(|s| s.as_f64())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| s as u64);
        Ok(JsSource { object, read, size, current: None, offset: 0 })
    }
}

/// A JS error thrown by a source, with its `code` (`network`, `aborted`) when it has one.
fn source_error(e: JsValue) -> SourceError {
    let field = |name: &str| Reflect::get(&e, &name.into()).ok().and_then(|v| v.as_string());
    let message = field("message").unwrap_or_else(|| format!("{e:?}"));
    match (field("code").as_deref(), field("name").as_deref()) {
        (Some("aborted"), _) | (_, Some("AbortError")) => SourceError::Aborted,
        (Some("network"), _) => SourceError::Network(message),
        (Some("quota"), _) => SourceError::Quota(message),
        _ => SourceError::Io(message),
    }
}

impl Source for JsSource {
    fn size(&self) -> Option<u64> {
        self.size
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        loop {
            if let Some(chunk) = &self.current {
                let left = chunk.length() - self.offset;
                if left > 0 {
                    let n = left.min(u32::try_from(buf.len()).unwrap_or(u32::MAX));
                    chunk.subarray(self.offset, self.offset + n).copy_to(&mut buf[..n as usize]);
                    self.offset += n;
                    return Ok(n as usize);
                }
                self.current = None;
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let next = self.read.call0(&self.object).map_err(source_error)?;
            let next = JsFuture::from(Promise::resolve(&next)).await.map_err(source_error)?;
            if next.is_null() || next.is_undefined() {
                return Ok(0);
            }
            let chunk = next
                .dyn_into::<Uint8Array>()
                .map_err(|_| SourceError::Io("the model source's read() gave something other than bytes".into()))?;
            self.current = Some(chunk);
            self.offset = 0;
        }
    }
}
