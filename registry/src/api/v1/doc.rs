//! How `/api/v1` routes are mounted, and what the discovery document says
//! about each of them.
//!
//! Every route of the `/api/v1` scope is mounted through [`Mount::mount`]
//! with a [`Resource`] of this module: the resource records its path
//! patterns and guards, and each [`Route`] the handler it calls, its
//! method, and what the handler's extractors take (query parameters from a
//! `web::Query<T>`, a request body from a `web::Json<T>`, both described by
//! `T`'s JSON schema). [`table`] mounts the API once with recording on and
//! keeps what was recorded, so the document is made from the same calls
//! that mount the routes and cannot describe a route that is not there.

use std::any::type_name;
use std::cell::RefCell;
use std::sync::OnceLock;

use actix_router::IntoPatterns;
use actix_web::dev::{HttpServiceFactory, ServiceRequest};
use actix_web::guard::{self, GuardContext};
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, Responder};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::ApiCaller;

/// A guard of a resource: a plain function of the request, so the
/// discovery document can ask it too.
pub type GuardFn = for<'a, 'b> fn(&'a GuardContext<'b>) -> bool;

/// What an extractor adds to an operation's description.
pub trait Describe {
    fn describe(_op: &mut OperationDoc, _gen: &mut SchemaGenerator) {}
}

/// The request side of one operation, filled in by its extractors.
#[derive(Default)]
pub struct OperationDoc {
    /// Query parameters: (name, JSON schema of the value, required).
    pub query: Vec<(String, Value, bool)>,
    /// The JSON request body's schema.
    pub body: Option<Value>,
}

/// One method of a resource.
#[derive(Clone)]
pub struct Operation {
    pub method: Method,
    /// The handler function's path, e.g. `registry::api::v1::tag::list_tags`.
    pub handler: &'static str,
    pub internal: bool,
    pub describe: fn(&mut OperationDoc, &mut SchemaGenerator),
}

/// One mounted resource of `/api/v1` (patterns relative to the scope).
#[derive(Clone)]
pub struct Endpoint {
    pub patterns: Vec<String>,
    pub guards: Vec<GuardFn>,
    pub operations: Vec<Operation>,
}

thread_local! {
    static RECORDING: RefCell<Option<Vec<Endpoint>>> = const { RefCell::new(None) };
}

/// The `/api/v1` route table, recorded once from the mounting code.
pub fn table() -> &'static [Endpoint] {
    static TABLE: OnceLock<Vec<Endpoint>> = OnceLock::new();
    TABLE.get_or_init(|| {
        RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
        let _ = actix_web::App::new().configure(super::configure);
        RECORDING.with(|r| r.borrow_mut().take()).unwrap_or_default()
    })
}

/// A resource of `/api/v1` at `path` (one pattern or several).
pub fn resource<T: IntoPatterns>(path: T) -> Resource {
    let patterns = match path.patterns() {
        actix_router::Patterns::Single(p) => vec![p],
        actix_router::Patterns::List(ps) => ps,
    };
    Resource {
        inner: web::resource(patterns.clone()),
        endpoint: Endpoint {
            patterns,
            guards: Vec::new(),
            operations: Vec::new(),
        },
    }
}

pub fn get() -> Route {
    Route::new(Method::GET)
}
pub fn post() -> Route {
    Route::new(Method::POST)
}
pub fn put() -> Route {
    Route::new(Method::PUT)
}
pub fn delete() -> Route {
    Route::new(Method::DELETE)
}

/// An actix resource with its description.
pub struct Resource {
    inner: actix_web::Resource,
    endpoint: Endpoint,
}

impl Resource {
    /// Serves the resource only where `g` holds (a feature switch or a path
    /// shape); the document leaves out resources whose guards refuse.
    pub fn guard(mut self, g: GuardFn) -> Self {
        self.inner = self.inner.guard(guard::fn_guard(g));
        self.endpoint.guards.push(g);
        self
    }

    /// Data for this resource's handlers (e.g. a larger body limit).
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.inner = self.inner.app_data(data);
        self
    }

    pub fn route(mut self, route: Route) -> Self {
        let Route {
            method,
            internal,
            inner,
        } = route;
        let (inner, operation) = match inner {
            Some(pair) => pair,
            None => panic!("a {method} route of {:?} has no handler", self.endpoint.patterns),
        };
        self.inner = self.inner.route(inner);
        self.endpoint.operations.push(Operation { internal, ..operation });
        self
    }
}

/// A method of a resource and its handler.
pub struct Route {
    method: Method,
    internal: bool,
    inner: Option<(actix_web::Route, Operation)>,
}

impl Route {
    fn new(method: Method) -> Route {
        Route {
            method,
            internal: false,
            inner: None,
        }
    }

    /// Hidden from the discovery document unless `?internal=true` asks
    /// (Quay's internal-only endpoints); still served.
    pub fn internal(mut self) -> Self {
        self.internal = true;
        self
    }

    pub fn to<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + Describe + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(self.method.clone()).to(handler);
        let operation = Operation {
            method: self.method.clone(),
            handler: type_name::<F>(),
            internal: false,
            describe: <Args as Describe>::describe,
        };
        self.inner = Some((route, operation));
        self
    }
}

/// Mounting a described resource.
pub trait Mount {
    fn mount(&mut self, resource: Resource) -> &mut Self;
}

impl Mount for web::ServiceConfig {
    fn mount(&mut self, resource: Resource) -> &mut Self {
        RECORDING.with(|r| {
            if let Some(table) = r.borrow_mut().as_mut() {
                table.push(resource.endpoint.clone());
            }
        });
        self.service(resource.inner)
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut actix_web::dev::AppService) {
        self.inner.register(config)
    }
}

/// Whether the resource serves the request `req` would be at `path`: its
/// guards asked with the caller's application data.
pub fn serves(endpoint: &Endpoint, req: &HttpRequest, path: &str) -> bool {
    if endpoint.guards.is_empty() {
        return true;
    }
    let mut probe = actix_web::test::TestRequest::get().uri(path);
    if let Some(state) = req.app_data::<web::Data<crate::state::AppState>>() {
        probe = probe.app_data(state.clone());
    }
    let probe: ServiceRequest = probe.to_srv_request();
    let ctx = probe.guard_ctx();
    endpoint.guards.iter().all(|g| g(&ctx))
}

/// Schema settings for the document: Swagger 2.0 keeps its models under
/// `#/definitions/`.
pub fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::openapi3();
    settings.definitions_path = "#/definitions/".into();
    settings.meta_schema = None;
    SchemaGenerator::new(settings)
}

// Extractors that add nothing to the description.
impl Describe for ApiCaller {}
impl Describe for HttpRequest {}
impl Describe for web::Bytes {}
impl Describe for web::Payload {}
impl Describe for String {}
impl<T: 'static> Describe for web::Data<T> {}
impl<T> Describe for web::Path<T> {}
impl<T: Describe> Describe for Option<T> {
    fn describe(op: &mut OperationDoc, gen: &mut SchemaGenerator) {
        T::describe(op, gen);
        for (_, _, required) in &mut op.query {
            *required = false;
        }
    }
}

impl<T: JsonSchema> Describe for web::Query<T> {
    fn describe(op: &mut OperationDoc, _gen: &mut SchemaGenerator) {
        let schema = generator().into_root_schema_for::<T>();
        let schema = schema.as_value();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                op.query
                    .push((name.clone(), property.clone(), required.contains(&name.as_str())));
            }
        }
    }
}

impl<T: JsonSchema> Describe for web::Json<T> {
    fn describe(op: &mut OperationDoc, gen: &mut SchemaGenerator) {
        op.body = Some(gen.subschema_for::<T>().to_value());
    }
}

macro_rules! describe_tuple {
    ($($t:ident),*) => {
        impl<$($t: Describe),*> Describe for ($($t,)*) {
            #[allow(unused_variables)]
            fn describe(op: &mut OperationDoc, gen: &mut SchemaGenerator) {
                $($t::describe(op, gen);)*
            }
        }
    };
}
describe_tuple!();
describe_tuple!(A);
describe_tuple!(A, B);
describe_tuple!(A, B, C);
describe_tuple!(A, B, C, D);
describe_tuple!(A, B, C, D, E);
describe_tuple!(A, B, C, D, E, F);
describe_tuple!(A, B, C, D, E, F, G);
describe_tuple!(A, B, C, D, E, F, G, H);
describe_tuple!(A, B, C, D, E, F, G, H, I);

/// A JSON body of any shape.
pub fn any_object() -> Value {
    json!({"type": "object"})
}

/// The definitions a generator collected, as Swagger 2.0 models.
pub fn definitions(mut gen: SchemaGenerator) -> Map<String, Value> {
    gen.take_definitions(true)
}
