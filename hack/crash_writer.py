"""Writes ConfigMaps as fast as it can and records each acknowledged one (flushed) until the
apiserver dies. Usage: crash_writer.py KUBECONFIG ACKED_FILE"""
import sys

from kubernetes import client, config

config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
try:
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="crash")))
except client.exceptions.ApiException:
    pass
with open(sys.argv[2], "a") as acked:
    for i in range(100000):
        name = f"w-{i}"
        try:
            v1.create_namespaced_config_map("crash", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"i": str(i)}))
        except Exception:
            break
        acked.write(name + "\n")
        acked.flush()
