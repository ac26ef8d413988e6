import json, sys, os
from http.server import BaseHTTPRequestHandler, HTTPServer

OUT = sys.argv[2]
CORE = [("namespaces","Namespace",False),("configmaps","ConfigMap",True),("secrets","Secret",True),
        ("services","Service",True),("serviceaccounts","ServiceAccount",True),("resourcequotas","ResourceQuota",True),
        ("pods","Pod",True)]
GROUPS = {
 "apps/v1": [("deployments","Deployment",True)],
 "batch/v1": [("jobs","Job",True),("cronjobs","CronJob",True)],
 "rbac.authorization.k8s.io/v1": [("roles","Role",True),("rolebindings","RoleBinding",True),("clusterroles","ClusterRole",False),("clusterrolebindings","ClusterRoleBinding",False)],
 "scheduling.k8s.io/v1": [("priorityclasses","PriorityClass",False)],
 "policy/v1": [("poddisruptionbudgets","PodDisruptionBudget",True)],
 "networking.k8s.io/v1": [("ingresses","Ingress",True)],
}
def reslist(gv, res):
    return {"kind":"APIResourceList","apiVersion":"v1","groupVersion":gv,"resources":[
        {"name":n,"singularName":k.lower(),"namespaced":ns,"kind":k,"verbs":["create","get","list","delete"]} for n,k,ns in res]}
class H(BaseHTTPRequestHandler):
    def send(self, obj, code=200):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header("Content-Type","application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/version": return self.send({"major":"1","minor":"32","gitVersion":"v1.32.0"})
        if p == "/api": return self.send({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]})
        if p == "/apis":
            gs=[]
            for gv in GROUPS:
                g,v=gv.split("/")
                gs.append({"name":g,"versions":[{"groupVersion":gv,"version":v}],"preferredVersion":{"groupVersion":gv,"version":v}})
            return self.send({"kind":"APIGroupList","apiVersion":"v1","groups":gs})
        if p == "/api/v1": return self.send(reslist("v1", CORE))
        if p.startswith("/apis/") and p[6:] in GROUPS: return self.send(reslist(p[6:], GROUPS[p[6:]]))
        self.send({"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound"}, 404)
    def do_POST(self):
        n = int(self.headers.get("Content-Length","0"))
        body = self.rfile.read(n)
        name = self.path.split("?")[0].strip("/").replace("/","_")
        with open(os.path.join(OUT, name + ".bin"), "wb") as f: f.write(body)
        with open(os.path.join(OUT, name + ".hdr"), "w") as f: f.write(self.headers.get("Content-Type","") + "\n" + self.path + "\n")
        self.send({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"}, 201)
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
