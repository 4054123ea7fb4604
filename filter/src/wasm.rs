//! The proxy-wasm adapter: the only module that knows about Envoy. It parses the configuration
//! once per VM in `on_configure` and, per request, hands the headers to [`crate::decide`] and
//! carries out the decision.
#![allow(unsafe_code)] // proxy_wasm::main! exports the `_start` entry point with #[no_mangle].

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use crate::{Decision, Policy, Request, decide};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { policy: None }) });
}}

fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

struct Root {
    policy: Option<Rc<Policy>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let Some(bytes) = self.get_plugin_configuration() else {
            log(
                LogLevel::Critical,
                "vault-mcp-filter: no plugin configuration",
            );
            return false;
        };
        match Policy::from_json(&bytes) {
            Ok(policy) => {
                self.policy = Some(Rc::new(policy));
                true
            }
            Err(error) => {
                // Returning false makes Envoy refuse the plugin: fail closed on bad config.
                log(
                    LogLevel::Critical,
                    &format!("vault-mcp-filter: invalid configuration: {error}"),
                );
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let policy = self.policy.clone()?;
        Some(Box::new(Filter { policy }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    policy: Rc<Policy>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let headers = self.get_http_request_headers();
        match decide(&self.policy, &Request::new(&headers)) {
            Decision::Allow { remove, set, .. } => {
                for name in &remove {
                    self.set_http_request_header(name, None);
                }
                for (name, value) in &set {
                    self.set_http_request_header(name, Some(value));
                }
                Action::Continue
            }
            Decision::Deny(error) => {
                self.send_http_response(
                    u32::from(error.status()),
                    vec![
                        ("content-type", "application/json"),
                        ("cache-control", "no-store"),
                    ],
                    Some(error.body().as_bytes()),
                );
                Action::Pause
            }
        }
    }
}
