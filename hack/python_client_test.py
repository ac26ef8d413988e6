"""The official Python client against kube-apiserver: CRUD, list with selectors, and a
watch that resumes from a resourceVersion. Usage: python_client_test.py KUBECONFIG"""
import sys

from kubernetes import client, config, watch

config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
ns = "pyclient"
v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="one", labels={"app": "py"}), data={"a": "1"})
created = v1.create_namespaced_config_map(ns, cm)
assert created.metadata.uid, created
start_rv = created.metadata.resource_version

got = v1.read_namespaced_config_map("one", ns)
assert got.data == {"a": "1"}, got.data

got.data["a"] = "2"
replaced = v1.replace_namespaced_config_map("one", ns, got)
assert replaced.data["a"] == "2"

patched = v1.patch_namespaced_config_map("one", ns, {"data": {"b": "3"}})
assert patched.data == {"a": "2", "b": "3"}, patched.data

v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="two", labels={"app": "other"})))
only = v1.list_namespaced_config_map(ns, label_selector="app=py")
assert [c.metadata.name for c in only.items] == ["one"], only.items
by_field = v1.list_namespaced_config_map(ns, field_selector="metadata.name=two")
assert [c.metadata.name for c in by_field.items] == ["two"]

try:
    v1.read_namespaced_config_map("missing", ns)
    raise AssertionError("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status

# Resume a watch from the first create's resourceVersion: it replays what came after.
events = []
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=10):
    events.append((ev["type"], ev["object"].metadata.name))
    if len(events) >= 3:
        w.stop()
assert events == [("MODIFIED", "one"), ("MODIFIED", "one"), ("ADDED", "two")], events

v1.delete_namespaced_config_map("one", ns)
names = [c.metadata.name for c in v1.list_namespaced_config_map(ns).items]
assert "one" not in names, names

apps = client.AppsV1Api()
dep = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
    "spec": {"selector": {"matchLabels": {"a": "b"}},
             "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
}
d = apps.create_namespaced_deployment(ns, dep)
assert d.spec.replicas == 1
print("python client: ok")
