//! Event recording: what `kubectl describe` shows under Events. Mirrors upstream
//! kube-controller-manager's `record.EventBroadcaster` (core/v1 Events):
//! - fire-and-forget: a failed event never fails a sync;
//! - `source.component` and `reportingComponent` are the controller's name
//!   (`replicaset-controller`, ...), names are `<object>.<hex nanoseconds>`;
//! - a repeat of the same (object, type, reason, message) within the cache's lifetime
//!   bumps `count` and `lastTimestamp` of the existing Event instead of creating another
//!   (upstream `EventCorrelator` / `eventLogger`). Events differing in message stay
//!   separate, as upstream (kube's `Recorder` would fold them into one series).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use parking_lot::Mutex;
use serde_json::json;

/// How many distinct events are remembered for aggregation (upstream `maxLruCacheEntries`).
const CACHE_ENTRIES: usize = 4096;

type Key = (String, String, String, String);

/// A cloneable event sink for one controller.
#[derive(Clone)]
pub struct EventSink {
    client: kube::Client,
    component: String,
    /// (object uid, type, reason, message) -> (event name, count).
    seen: Arc<Mutex<HashMap<Key, (String, i32)>>>,
}

impl EventSink {
    /// Events reported as `component`.
    pub fn new(client: kube::Client, component: &str) -> Self {
        EventSink {
            client,
            component: component.to_string(),
            seen: Arc::default(),
        }
    }

    /// Records a Normal event about `obj`.
    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: String) {
        self.emit(obj.object_ref(&()), "Normal", reason, message);
    }

    /// Records a Warning event about `obj`.
    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: String) {
        self.emit(obj.object_ref(&()), "Warning", reason, message);
    }

    /// Records a Normal event about the object `involved` refers to (for controllers that
    /// work on a converted form of the object, such as ReplicationControllers).
    pub fn normal_ref(&self, involved: ObjectReference, reason: &str, message: String) {
        self.emit(involved, "Normal", reason, message);
    }

    /// Records a Warning event about the object `involved` refers to.
    pub fn warning_ref(&self, involved: ObjectReference, reason: &str, message: String) {
        self.emit(involved, "Warning", reason, message);
    }

    fn emit(&self, involved: ObjectReference, type_: &str, reason: &str, message: String) {
        let sink = self.clone();
        let type_ = type_.to_string();
        let reason = reason.to_string();
        tokio::spawn(async move {
            if let Err(e) = sink.publish(involved, &type_, &reason, message).await {
                tracing::debug!(error = %e, "recording event failed");
            }
        });
    }

    async fn publish(
        &self,
        involved: ObjectReference,
        type_: &str,
        reason: &str,
        message: String,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let ns = involved
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let key = (
            involved.uid.clone().unwrap_or_default(),
            type_.to_string(),
            reason.to_string(),
            message.clone(),
        );
        let repeat = {
            let mut seen = self.seen.lock();
            match seen.get_mut(&key) {
                Some((name, count)) => {
                    *count += 1;
                    Some((name.clone(), *count))
                }
                None => None,
            }
        };
        if let Some((name, count)) = repeat {
            let patch = json!({"count": count, "lastTimestamp": Time(now)});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Expired or deleted: record afresh.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            involved.name.as_deref().unwrap_or(&self.component),
            now.as_nanosecond()
        );
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(type_.to_string()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            event_time: None::<MicroTime>,
            ..Default::default()
        };
        api.create(&PostParams::default(), &ev).await?;
        let mut seen = self.seen.lock();
        if seen.len() >= CACHE_ENTRIES {
            seen.clear();
        }
        seen.insert(key, (name, 1));
        Ok(())
    }
}
