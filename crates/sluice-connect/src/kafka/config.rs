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
