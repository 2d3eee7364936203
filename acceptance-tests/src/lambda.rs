//! An independent Lambda client for fixtures and assertions: the Lambda
//! REST-JSON API (plus IAM's CreateRole, which a function needs) over the
//! crate's plain HTTP code. No AWS SDK, no provider code.
//!
//! moto checks that a function's role exists in its IAM (same account,
//! `123456789012`), so [`AwsClient::create_function`] creates the role first.
//! Function code is a tiny zip built here (stored, no compression).

use crate::{AwsClient, AwsError};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The role functions made by [`AwsClient::create_function`] run with.
pub const LAMBDA_ROLE_NAME: &str = "acceptance-lambda-role";

/// What GetAlias (or CreateAlias/UpdateAlias) says about an alias.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasInfo {
    pub name: String,
    pub arn: String,
    /// The primary version (`FunctionVersion`).
    pub function_version: String,
    /// The additional version and its weight (0.0 ..= 1.0), if the alias
    /// splits traffic.
    pub additional: Option<(String, f64)>,
    pub revision_id: String,
}

impl AliasInfo {
    fn from_json(value: &Value) -> AliasInfo {
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        let additional = value["RoutingConfig"]["AdditionalVersionWeights"]
            .as_object()
            .and_then(|weights| weights.iter().next())
            .map(|(version, weight)| (version.clone(), weight.as_f64().unwrap_or(f64::NAN)));
        AliasInfo {
            name: text("Name"),
            arn: text("AliasArn"),
            function_version: text("FunctionVersion"),
            additional,
            revision_id: text("RevisionId"),
        }
    }
}

impl AwsClient {
    /// Calls the Lambda REST-JSON API: `method` on `path` (with any query
    /// string) and an optional JSON body. Returns the HTTP status and the
    /// JSON answer (`Null` for an empty body), or the error answer.
    pub fn lambda(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), AwsError> {
        let payload = body.map(Value::to_string).unwrap_or_default();
        let content_type = body.map(|_| "application/json");
        let response = self.send(method, "lambda", path, content_type, payload.as_bytes())?;
        let value: Value = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&response.body).unwrap_or_else(|_| Value::String(response.text()))
        };
        if (200..300).contains(&response.status) {
            return Ok((response.status, value));
        }
        // `{"__type": "...#Code" or "Code", "message": ...}` (also `Type`/`Message`).
        let code = value["__type"].as_str().or(value["Type"].as_str()).unwrap_or("Unknown");
        let code = code.rsplit(['#', ':']).next().unwrap_or(code).to_string();
        let message = value["message"]
            .as_str()
            .or(value["Message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| response.text());
        Err(AwsError { status: response.status, code, message })
    }

    fn must_lambda(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.lambda(method, path, body).unwrap_or_else(|e| panic!("Lambda {what} failed: {e}")).1
    }

    /// Creates an IAM role that Lambda may assume (no error if it exists);
    /// returns its ARN.
    pub fn create_lambda_role(&self, name: &str) -> String {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        match self.iam("CreateRole", &[("RoleName", name), ("AssumeRolePolicyDocument", policy)]) {
            Ok(_) => {}
            Err(e) if e.code == "EntityAlreadyExists" => {}
            Err(e) => panic!("IAM CreateRole failed: {e}"),
        }
        format!("arn:aws:iam::123456789012:role/{name}")
    }

    /// Creates a Python function `name` (role [`LAMBDA_ROLE_NAME`], created
    /// if needed) and returns its ARN. Only `$LATEST` exists afterwards.
    pub fn create_function(&self, name: &str) -> String {
        let role = self.create_lambda_role(LAMBDA_ROLE_NAME);
        let body = json!({
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": role,
            "Handler": "index.handler",
            "Code": {"ZipFile": base64(&handler_zip(0))},
        });
        let answer = self.must_lambda("CreateFunction", "POST", "/2015-03-31/functions", Some(&body));
        answer["FunctionArn"].as_str().expect("CreateFunction answers with FunctionArn").to_string()
    }

    /// Uploads new code to `$LATEST` and publishes it; returns the new
    /// version number. (Lambda publishes nothing new when neither code nor
    /// configuration changed, hence the upload.)
    pub fn publish_version(&self, function: &str) -> String {
        let function = segment(function);
        let code_path = format!("/2015-03-31/functions/{function}/code");
        // A different handler each time: count the versions published so far.
        let versions = self.must_lambda(
            "ListVersionsByFunction",
            "GET",
            &format!("/2015-03-31/functions/{function}/versions"),
            None,
        );
        let serial = versions["Versions"].as_array().map_or(0, Vec::len);
        self.must_lambda(
            "UpdateFunctionCode",
            "PUT",
            &code_path,
            Some(&json!({"ZipFile": base64(&handler_zip(serial))})),
        );
        let answer = self.must_lambda(
            "PublishVersion",
            "POST",
            &format!("/2015-03-31/functions/{function}/versions"),
            Some(&json!({})),
        );
        answer["Version"].as_str().expect("PublishVersion answers with Version").to_string()
    }

    /// Creates alias `alias` of `function` pointing to `version`, with an
    /// additional version and its weight when given.
    pub fn create_alias(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        additional: Option<(&str, f64)>,
    ) -> AliasInfo {
        let mut body = json!({"Name": alias, "FunctionVersion": version});
        if let Some((extra, weight)) = additional {
            body["RoutingConfig"] = json!({"AdditionalVersionWeights": {extra: weight}});
        }
        let path = format!("/2015-03-31/functions/{}/aliases", segment(function));
        AliasInfo::from_json(&self.must_lambda("CreateAlias", "POST", &path, Some(&body)))
    }

    /// The alias, or `None` if it (or the function) does not exist.
    pub fn get_alias(&self, function: &str, alias: &str) -> Option<AliasInfo> {
        let path = format!("/2015-03-31/functions/{}/aliases/{}", segment(function), segment(alias));
        match self.lambda("GET", &path, None) {
            Ok((_, value)) => Some(AliasInfo::from_json(&value)),
            Err(e) if e.status == 404 => None,
            Err(e) => panic!("Lambda GetAlias failed: {e}"),
        }
    }

    /// Points the alias at `version` and sets its routing in one call:
    /// `Some((extra, weight))` splits traffic, `None` clears the routing
    /// (`RoutingConfig: {}`). Errors (e.g. AWS's validation) are returned.
    pub fn try_update_alias(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        additional: Option<(&str, f64)>,
    ) -> Result<AliasInfo, AwsError> {
        let routing = match additional {
            Some((extra, weight)) => json!({"AdditionalVersionWeights": {extra: weight}}),
            None => json!({}),
        };
        let body = json!({"FunctionVersion": version, "RoutingConfig": routing});
        let path = format!("/2015-03-31/functions/{}/aliases/{}", segment(function), segment(alias));
        self.lambda("PUT", &path, Some(&body)).map(|(_, value)| AliasInfo::from_json(&value))
    }

    /// [`AwsClient::try_update_alias`], panicking on any error.
    pub fn update_alias(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        additional: Option<(&str, f64)>,
    ) -> AliasInfo {
        self.try_update_alias(function, alias, version, additional)
            .unwrap_or_else(|e| panic!("Lambda UpdateAlias failed: {e}"))
    }

    /// The alias's routing: (primary version, additional version and weight).
    ///
    /// # Panics
    /// If the alias does not exist.
    pub fn alias_routing(&self, function: &str, alias: &str) -> (String, Option<(String, f64)>) {
        let info = self.get_alias(function, alias).unwrap_or_else(|| panic!("no alias {alias} of function {function}"));
        (info.function_version, info.additional)
    }

    /// The tags of a function, by its ARN (ListTags).
    pub fn function_tags(&self, function_arn: &str) -> BTreeMap<String, String> {
        let answer = self.must_lambda("ListTags", "GET", &format!("/2017-03-31/tags/{}", segment(function_arn)), None);
        answer["Tags"]
            .as_object()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default()
    }

    /// Adds or overwrites tags of a function (TagResource).
    pub fn tag_function(&self, function_arn: &str, tags: &[(&str, &str)]) {
        let tags: serde_json::Map<String, Value> = tags.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.must_lambda(
            "TagResource",
            "POST",
            &format!("/2017-03-31/tags/{}", segment(function_arn)),
            Some(&json!({"Tags": tags})),
        );
    }

    /// Removes tags of a function (UntagResource).
    pub fn untag_function(&self, function_arn: &str, keys: &[&str]) {
        let query: Vec<String> = keys.iter().map(|k| format!("tagKeys={}", segment(k))).collect();
        let path = format!("/2017-03-31/tags/{}?{}", segment(function_arn), query.join("&"));
        self.must_lambda("UntagResource", "DELETE", &path, None);
    }
}

/// Percent-encodes one URL path segment (or query value): everything but
/// RFC 3986's unreserved characters.
fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// CRC-32 (IEEE), as zip stores it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A zip archive with one stored (uncompressed) file.
fn stored_zip(name: &str, content: &[u8]) -> Vec<u8> {
    let crc = crc32(content);
    let size = content.len() as u32;
    let name_len = name.len() as u16;
    // Fields shared by the local header and the central directory entry:
    // version needed 2.0, flags 0, method 0 (stored), time/date 1980-01-01 00:00.
    let common = |out: &mut Vec<u8>| {
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x21u16.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    let mut out = Vec::new();
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(&mut out);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(content);
    let directory_start = out.len() as u32;
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // version made by
    common(&mut out);
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out.extend_from_slice(&0u16.to_le_bytes()); // disk number
    out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
    out.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    out.extend_from_slice(name.as_bytes());
    let directory_size = out.len() as u32 - directory_start;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // this disk
    out.extend_from_slice(&0u16.to_le_bytes()); // disk with the directory
    out.extend_from_slice(&1u16.to_le_bytes()); // entries on this disk
    out.extend_from_slice(&1u16.to_le_bytes()); // entries in all
    out.extend_from_slice(&directory_size.to_le_bytes());
    out.extend_from_slice(&directory_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

/// The function's code: `index.py` whose handler returns `serial`.
fn handler_zip(serial: usize) -> Vec<u8> {
    stored_zip("index.py", format!("def handler(event, context):\n    return {serial}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_crc32() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(segment("arn:aws:x/y z"), "arn%3Aaws%3Ax%2Fy%20z");
    }

    #[test]
    fn zip_layout() {
        let zip = stored_zip("a.txt", b"hello");
        assert_eq!(&zip[..4], b"PK\x03\x04");
        // local header 30 + name 5 + data 5, central entry 46 + 5, end record 22
        assert_eq!(zip.len(), 30 + 5 + 5 + 46 + 5 + 22);
        assert_eq!(&zip[zip.len() - 22..zip.len() - 18], b"PK\x05\x06");
    }
}
