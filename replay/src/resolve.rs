//! Filling the placeholders (`${secret:NAME}`, `${0003.response.body.id}`) of a
//! case's request and expected response, and of the mocks' recorded exchanges.
//! Below both the runner and the mocks, which each fill their own.

use reel_core::suite::{BodySpec, RequestSpec, ResponseSpec};
use reel_core::template::{resolve_json, resolve_str, Resolver};

use crate::compare::loose;

fn resolve_body(b: &Option<BodySpec>, r: &dyn Resolver) -> Result<Option<BodySpec>, String> {
    Ok(match b {
        Some(b @ (BodySpec::Json(v) | BodySpec::JsonLines(v) | BodySpec::JsonSeq(v))) => {
            Some(b.with_json(resolve_json(v, r)?))
        }
        Some(BodySpec::Text(t)) => Some(BodySpec::Text(resolve_str(t, r)?)),
        other => other.clone(),
    })
}

fn resolve_headers(
    h: &[(String, String)],
    r: &dyn Resolver,
) -> Result<Vec<(String, String)>, String> {
    h.iter()
        .map(|(n, v)| Ok((n.clone(), resolve_str(v, r)?)))
        .collect()
}

/// A request with its placeholders filled.
pub fn resolve_request(req: &RequestSpec, r: &dyn Resolver) -> Result<RequestSpec, String> {
    Ok(RequestSpec {
        method: req.method.clone(),
        target: resolve_str(&req.target, r)?,
        headers: resolve_headers(&req.headers, r)?,
        body: resolve_body(&req.body, r)?,
    })
}

/// A response with its placeholders filled.
pub fn resolve_response(resp: &ResponseSpec, r: &dyn Resolver) -> Result<ResponseSpec, String> {
    Ok(ResponseSpec {
        status: resp.status,
        headers: resolve_headers(&resp.headers, r)?,
        body_encoding: resp.body_encoding.clone(),
        body: resolve_body(&resp.body, r)?,
    })
}

/// The expected response with its placeholders filled, except that a header
/// compared by form only ([`loose`]) whose placeholders cannot be filled (a
/// `Set-Cookie` secret with no secrets file, as in a fresh CI clone) is left
/// as it is: its value is never compared, so it is no reason to fail the case.
pub fn resolve_expected(resp: &ResponseSpec, r: &dyn Resolver) -> Result<ResponseSpec, String> {
    let headers = resp
        .headers
        .iter()
        .map(|(n, v)| match resolve_str(v, r) {
            Ok(filled) => Ok((n.clone(), filled)),
            Err(_) if loose::is_loose(n) => Ok((n.clone(), v.clone())),
            Err(e) => Err(e),
        })
        .collect::<Result<_, String>>()?;
    Ok(ResponseSpec {
        status: resp.status,
        headers,
        body_encoding: resp.body_encoding.clone(),
        body: resolve_body(&resp.body, r)?,
    })
}
