//! The wasm-bindgen surface that `www/worker.js` uses. It only marshals: requests and
//! responses cross as JSON strings, errors become JS `Error`s with a `code`, and every
//! decision is the library's ([`crate::session`]).

mod source;

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::engine::{Cancel, Phase};
use crate::error_code::ErrorCode;
use crate::gguf::{Gguf, GgufError, Summary};
use crate::gpu::GpuContext;
use crate::session::{Error, LoadOptions, Request, Session};

pub use source::JsSource;

/// Installs the panic hook so a bug shows as a console error instead of "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A JS `Error` with the error's sentence as message, its class as `code` and, where an app
/// can act on numbers, `details` (`{prompt_tokens, context_length}` for a prompt over the
/// context).
fn js_error(e: &Error) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    let _ = Reflect::set(&error, &"code".into(), &e.code().as_str().into());
    if let Error::ContextLength { prompt_tokens, context_length } = e {
        let details = js_sys::Object::new();
        let _ = Reflect::set(&details, &"prompt_tokens".into(), &(*prompt_tokens as f64).into());
        let _ = Reflect::set(&details, &"context_length".into(), &(*context_length as f64).into());
        let _ = Reflect::set(&error, &"details".into(), &details);
    }
    error.into()
}

fn internal(message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = Reflect::set(&error, &"code".into(), &ErrorCode::Internal.as_str().into());
    error.into()
}

/// The settings the page starts from ([`crate::session::Defaults`]), as JSON.
#[wasm_bindgen]
pub fn defaults() -> Result<String, JsValue> {
    to_json(&crate::session::Defaults::default())
}

/// Every error code, as `HearthError.code` spells them ([`ErrorCode::ALL`]): the worker passes
/// on only these.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> Vec<String> {
    ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect()
}

fn to_json(v: &impl serde::Serialize) -> Result<String, JsValue> {
    serde_json::to_string(v).map_err(|e| internal(&e.to_string()))
}

/// Describes the GPU adapter hearth would use, its limits and features, as JSON (without
/// opening a device).
#[wasm_bindgen(js_name = adapterInfo)]
pub async fn adapter_info() -> Result<String, JsValue> {
    let report = GpuContext::probe(&Default::default()).await.map_err(|e| js_error(&e.into()))?;
    to_json(&report)
}

/// Parses a GGUF header from the first bytes of a file of `file_size` bytes.
///
/// Returns JSON: `{"need_more": N}` while the header is incomplete (read at least N more
/// bytes and call again), else `{"summary": {...}}`. A broken file throws an `Error`.
#[wasm_bindgen(js_name = inspectGguf)]
pub fn inspect_gguf(prefix: &[u8], file_size: f64) -> Result<String, JsError> {
    let value = match Gguf::parse(prefix, file_size as u64) {
        Ok(g) => serde_json::json!({ "summary": Summary::new(&g) }),
        Err(GgufError::NeedMore { needed }) => serde_json::json!({ "need_more": needed }),
        Err(e) => return Err(JsError::new(&e.to_string())),
    };
    Ok(value.to_string())
}

/// Reads the header from `source` (an object with `size` and `read()`) and returns JSON of
/// [`crate::session::Inspection`]: the model's summary, the GPU memory it needs with
/// `options` (JSON of [`LoadOptions`]) and whether this adapter can run it.
#[wasm_bindgen]
pub async fn inspect(source: JsValue, options: String) -> Result<String, JsValue> {
    let opts: LoadOptions =
        serde_json::from_str(&options).map_err(|e| js_error(&Error::Request(format!("inspect options: {e}"))))?;
    let source = JsSource::new(source).map_err(|e| js_error(&e.into()))?;
    let report = crate::session::inspect(source, &opts).await.map_err(|e| js_error(&e))?;
    to_json(&report)
}

/// SHA-256 computed a chunk at a time, for the worker's checks of stored models.
#[wasm_bindgen]
#[derive(Default)]
pub struct Sha256(sha2::Sha256);

#[wasm_bindgen]
impl Sha256 {
    /// A hasher of nothing yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        Sha256::default()
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    /// The digest of everything added, as lowercase hex; the hasher starts over.
    pub fn finish(&mut self) -> String {
        let digest = sha2::Digest::finalize_reset(&mut self.0);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Loads a model from `source` (an object with `size` and `read()`, see [`JsSource`]) with
/// `options` (JSON of [`LoadOptions`]); `on_progress(phase, done, total)` hears of the weights
/// (`load`, bytes) and of the kernels (`compile`).
#[wasm_bindgen(js_name = loadEngine)]
pub async fn load_engine(source: JsValue, options: String, on_progress: Function) -> Result<WebEngine, JsValue> {
    let opts: LoadOptions =
        serde_json::from_str(&options).map_err(|e| js_error(&Error::Request(format!("load options: {e}"))))?;
    let source = JsSource::new(source).map_err(|e| js_error(&e.into()))?;
    let mut progress = |phase: Phase, done: u64, total: u64| {
        let phase = match phase {
            Phase::Load => "load",
            Phase::Compile => "compile",
        };
        let _ = on_progress.call3(&JsValue::NULL, &phase.into(), &(done as f64).into(), &(total as f64).into());
    };
    let session = Session::load(source, &opts, &mut progress).await.map_err(|e| js_error(&e))?;
    Ok(WebEngine { session: Shared(Rc::new(RefCell::new(Some(session)))), cancel: Cancel::new() })
}

/// The session, lent to one operation at a time: a request takes it out for its duration
/// (across awaits, so no `RefCell` borrow is held there) and its [`Lease`] puts it back.
#[derive(Clone)]
struct Shared(Rc<RefCell<Option<Session>>>);

impl Shared {
    fn lease(&self) -> Result<Lease, JsValue> {
        let session = self.0.borrow_mut().take().ok_or_else(busy)?;
        Ok(Lease { home: self.clone(), session: Some(session) })
    }

    fn with<T>(&self, f: impl FnOnce(&Session) -> Result<T, JsValue>) -> Result<T, JsValue> {
        f(self.0.borrow().as_ref().ok_or_else(busy)?)
    }
}

fn busy() -> JsValue {
    internal("the engine is busy with another operation")
}

/// A session taken out of [`Shared`]; dropping it puts it back.
struct Lease {
    home: Shared,
    session: Option<Session>,
}

impl Lease {
    fn get(&mut self) -> Result<&mut Session, JsValue> {
        self.session.as_mut().ok_or_else(busy)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *self.home.0.borrow_mut() = self.session.take();
    }
}

/// A loaded model (JS: `Engine`).
#[wasm_bindgen(js_name = Engine)]
pub struct WebEngine {
    session: Shared,
    cancel: Cancel,
}

/// Which endpoint a request is for.
#[derive(Clone, Copy)]
enum Endpoint {
    Chat,
    Completion,
}

impl WebEngine {
    /// Runs `request` (JSON) on `endpoint`, calling `on_chunk` with each chunk's JSON when it
    /// streams; resolves to the response's JSON.
    fn request(&self, endpoint: Endpoint, request: String, on_chunk: Function) -> Promise {
        let (session, cancel) = (self.session.clone(), self.cancel.clone());
        cancel.reset();
        future_to_promise(async move {
            let req = Request::from_json(&request).map_err(|e| js_error(&e))?;
            let mut lease = session.lease()?;
            let s = lease.get()?;
            let send = |json: Result<String, JsValue>| {
                if let Ok(json) = json {
                    let _ = on_chunk.call1(&JsValue::NULL, &json.into());
                }
            };
            let response = match endpoint {
                Endpoint::Chat => {
                    to_json(&s.chat(&req, &cancel, &mut |c| send(to_json(c))).await.map_err(|e| js_error(&e))?)
                }
                Endpoint::Completion => {
                    to_json(&s.complete(&req, &cancel, &mut |c| send(to_json(c))).await.map_err(|e| js_error(&e))?)
                }
            };
            response.map(JsValue::from)
        })
    }
}

#[wasm_bindgen(js_class = Engine)]
impl WebEngine {
    /// A chat completion: `request` is the JSON of an OpenAI-style request with `messages`.
    pub fn chat(&self, request: String, on_chunk: Function) -> Promise {
        self.request(Endpoint::Chat, request, on_chunk)
    }

    /// A text completion: `request` is the JSON of an OpenAI-style request with `prompt`.
    pub fn complete(&self, request: String, on_chunk: Function) -> Promise {
        self.request(Endpoint::Completion, request, on_chunk)
    }

    /// Stops the running request before its next token (it ends with `finish_reason`
    /// `abort`).
    pub fn abort(&self) {
        self.cancel.cancel();
    }

    /// Forgets the cached conversation (WebLLM's `resetChat`): the next request computes its
    /// whole prompt.
    #[wasm_bindgen(js_name = resetCache)]
    pub fn reset_cache(&self) -> Result<(), JsValue> {
        let mut lease = self.session.lease()?;
        lease.get()?.reset_cache();
        Ok(())
    }

    /// The model, the adapter, the precision, the context, memory and load timings, as JSON.
    pub fn info(&self) -> Result<String, JsValue> {
        self.session.with(|s| to_json(&s.info()))
    }

    /// Times a decode step (`n_tokens` 1) or a prefill chunk and each of its kernels (JSON of
    /// `StepProfile`), to see where the time goes on this adapter.
    pub fn profile(&self, n_tokens: u32, reps: u32) -> Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            let mut lease = session.lease()?;
            let p = lease.get()?.engine.profile_step(n_tokens, reps as usize).await.map_err(|e| js_error(&e.into()))?;
            to_json(&p).map(JsValue::from)
        })
    }

    /// Destroys the GPU device, as a lost device would be (for tests of device loss).
    #[wasm_bindgen(js_name = loseDevice)]
    pub fn lose_device(&self) -> Result<(), JsValue> {
        self.session.with(|s| {
            s.engine.ctx.lose_device();
            Ok(())
        })
    }
}
