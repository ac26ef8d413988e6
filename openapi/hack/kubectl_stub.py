#!/usr/bin/env python3
"""A static stand-in apiserver for checking the OpenAPI documents with the real kubectl.

Serves minimal legacy discovery (pods, configmaps, namespaces, deployments), the documents
written by `cargo run -p rudder-openapi --example dump_openapi -- /tmp/oadump`, and echoes
creates/patches while logging every request to /tmp/kstub/requests.log. Used to confirm that
kubectl 1.32 `explain` reads the v3 schemas, `create -f` sends `fieldValidation=Strict`,
and client-side `apply` builds a strategic merge patch with `$setElementOrder` from the
merge keys. Usage: kubectl_stub.py <port>
"""
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse
DUMP='/tmp/oadump'
os.makedirs('/tmp/kstub', exist_ok=True)
LOG=open('/tmp/kstub/requests.log','a')
store={}
def res(name, kind, ns=True, verbs=None, short=None):
    return {"name":name,"singularName":kind.lower(),"namespaced":ns,"kind":kind,"verbs":verbs or ["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":short or []}
DISC={
 '/api': {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]},
 '/apis': {"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]},
 '/api/v1': {"kind":"APIResourceList","groupVersion":"v1","resources":[res("pods","Pod",short=["po"]),res("configmaps","ConfigMap",short=["cm"]),res("namespaces","Namespace",ns=False,short=["ns"])]},
 '/apis/apps/v1': {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[res("deployments","Deployment",short=["deploy"])]},
 '/version': {"major":"1","minor":"33","gitVersion":"v1.33.0","platform":"linux/amd64"},
}
class H(BaseHTTPRequestHandler):
    def log_message(self,*a): pass
    def send(self, code, body, ct='application/json'):
        b = body if isinstance(body,bytes) else json.dumps(body).encode()
        self.send_response(code); self.send_header('Content-Type',ct); self.send_header('Content-Length',str(len(b))); self.end_headers(); self.wfile.write(b)
    def body(self):
        n=int(self.headers.get('Content-Length') or 0); return self.rfile.read(n)
    def do_GET(self):
        u=urlparse(self.path); LOG.write(f"GET {self.path} accept={self.headers.get('Accept')}\n"); LOG.flush()
        p=u.path.rstrip('/')
        if p in DISC: return self.send(200, DISC[p])
        if p=='/openapi/v3': return self.send(200, open(DUMP+'/openapi/v3.json','rb').read())
        if p.startswith('/openapi/v3/'):
            f=DUMP+p+'.json'
            if os.path.exists(f): return self.send(200, open(f,'rb').read())
        if p=='/openapi/v2': return self.send(404, {"kind":"Status"})
        if p in store: return self.send(200, store[p])
        return self.send(404, {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"})
    def do_POST(self):
        b=self.body(); LOG.write(f"POST {self.path} ct={self.headers.get('Content-Type')}\n{b.decode(errors='replace')}\n"); LOG.flush()
        obj=json.loads(b); u=urlparse(self.path)
        obj.setdefault('metadata',{})['resourceVersion']='1'; obj['metadata']['uid']='u1'
        store[u.path.rstrip('/')+'/'+obj['metadata']['name']]=obj
        self.send(201,obj)
    def do_PATCH(self):
        b=self.body(); LOG.write(f"PATCH {self.path} ct={self.headers.get('Content-Type')}\n{b.decode(errors='replace')}\n"); LOG.flush()
        u=urlparse(self.path); self.send(200, store.get(u.path, {}))
srv=ThreadingHTTPServer(('127.0.0.1',int(sys.argv[1])),H); srv.serve_forever()
