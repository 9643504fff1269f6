//! [`KafkaConfig`]: where the brokers are and how to talk to them.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

/// The brokers and client properties shared by a [`KafkaSource`](super::KafkaSource) and a
/// [`KafkaSink`](super::KafkaSink).
///
/// Properties are librdkafka's (`security.protocol`, `sasl.mechanism`, `client.id`, ...) and go
/// to the client as they are; an unknown one is an error when the client is created, naming
/// it. Defaults: no properties, a 30 s timeout for metadata and offset requests.
#[derive(Debug, Clone)]
#[must_use]
pub struct KafkaConfig {
    bootstrap: String,
    properties: BTreeMap<String, String>,
    timeout: Duration,
}

impl KafkaConfig {
    /// Brokers at `bootstrap_servers` (`host:port[,host:port...]`).
    pub fn new(bootstrap_servers: &str) -> Self {
        KafkaConfig {
            bootstrap: bootstrap_servers.to_string(),
            properties: BTreeMap::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Sets the client property `key` (e.g. `group.id`, `sasl.username`).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.insert(key.to_string(), value.to_string());
        self
    }

    /// How long metadata, offset and transaction requests may take. Default = 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bootstrap servers.
    #[must_use]
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The value of client property `key`, if set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// A client configuration: the user's properties, then `overrides` (settings the connector
    /// depends on, which win).
    pub(crate) fn client(&self, overrides: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        for (k, v) in overrides {
            config.set(*k, *v);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::producer::BaseProducer;

    use super::*;

    #[test]
    fn tls_and_sasl_properties_are_understood_by_the_bundled_client() {
        // Creating a client does not connect: this checks librdkafka was built with SSL (and
        // so SASL PLAIN/SCRAM), which `security.protocol` = `sasl_ssl` needs.
        let config = KafkaConfig::new("127.0.0.1:1")
            .property("security.protocol", "sasl_ssl")
            .property("sasl.mechanism", "SCRAM-SHA-256")
            .property("sasl.username", "sluice")
            .property("sasl.password", "secret");
        let client: rdkafka::error::KafkaResult<BaseProducer> = config.client(&[]).create();
        assert!(client.is_ok(), "{:?}", client.err());
    }

    #[test]
    fn an_unknown_property_is_an_error_naming_it() {
        let config = KafkaConfig::new("127.0.0.1:1").property("no.such.property", "1");
        let err = match config.client(&[]).create::<BaseProducer>() {
            Ok(_) => panic!("an unknown property must be refused"),
            Err(e) => super::super::error("kafka sink `t`", &e),
        };
        assert!(err.to_string().contains("no.such.property"), "{err}");
        assert!(matches!(
            err,
            sluice_dataflow::DataflowError::Connector { kind: sluice_types::ErrorKind::User, .. }
        ));
    }
}
