#!/usr/bin/env python3
# Transcribes the conformance tests of sigs.k8s.io/network-policy-api (conformance/tests/*.go of a
# release checkout) into the cases file internal/policy testdata reads:
#
#   hack/npapi-conformance-cases.py <checkout> <out.yaml> <release> "<what the release tests>"
#
# The tests are written in a few regular shapes (GetPod, PokeServer, rule swaps, action and
# priority changes, label patches); a statement of any other shape is printed and marked todo in
# the output, so that a new release with new shapes is noticed rather than dropped.
import json, os, re, sys

import yaml
PFX = "network-policy-conformance-"
def short(ns): return ns[len(PFX):] if ns.startswith(PFX) else ns

def split_args(s):
    out, depth, cur, q = [], 0, '', False
    for ch in s:
        if ch == '"' : q = not q
        if not q:
            if ch in '([{': depth += 1
            elif ch in ')]}': depth -= 1
            elif ch == ',' and depth == 0:
                out.append(cur.strip()); cur=''; continue
        cur += ch
    if cur.strip(): out.append(cur.strip())
    return out

def statements(body):
    # join lines until parens balance
    lines = body.split('\n'); out=[]; cur=''; depth=0
    for ln in lines:
        s = ln.strip()
        if s.startswith('//') or not s: continue
        s = re.sub(r'\s//.*$', '', s)
        cur += (' ' if cur else '') + s
        depth = sum(cur.count(c) for c in '([{') - sum(cur.count(c) for c in ')]}')
        if depth <= 0 or re.search(r'func\([^)]*\) \{$', cur):
            out.append(cur); cur=''
    if cur: out.append(cur)
    return out

def q(s): return json.dumps(s)

def transcribe(path, root):
    src = open(path).read()
    src = re.sub(r'/\*.*?\*/', '', src, flags=re.S)
    src = re.sub(r'client\.ObjectKey\{\s*Namespace:\s*"([^"]*)",\s*Name:\s*"([^"]*)",?\s*\}', r'KEY("\1","\2")', src)
    src = re.sub(r'client\.ObjectKey\{\s*Name:\s*"([^"]*)",?\s*\}', r'KEY("","\1")', src)
    consts = dict(GLOBAL_CONSTS)
    kinds = dict((v, k) for v, k in re.findall(r'(\w+) := &v1alpha1\.(AdminNetworkPolicy|BaselineAdminNetworkPolicy)\{\}', src))
    out = []
    for m in re.finditer(r'var (\w+) = suite\.ConformanceTest\{(.*?)\n\}\n', src, re.S):
        block = m.group(2)
        short_name = re.search(r'ShortName:\s*"([^"]*)"', block).group(1)
        manifests = re.findall(r'"(base/[^"]*)"', re.search(r'Manifests:\s*\[\]string\{([^}]*)\}', block).group(1))
        body = block[block.index('Test: func'):]
        vars_ = {}
        tmp = {}
        steps = []
        cur = {'name': '(test body)', 'ops': []}
        cleanup = []
        in_cleanup = False
        policy = None
        todo = []
        for st in statements(body)[1:]:
            ops = cleanup if in_cleanup else cur['ops']
            mr = re.match(r't\.Run\("((?:[^"\\]|\\.)*)"', st)
            if mr:
                if cur['ops'] or cur['name'] != '(test body)': steps.append(cur)
                cur = {'name': mr.group(1), 'ops': []}
                continue
            if st.startswith('t.Cleanup(func() {'):
                in_cleanup = True; continue
            if st in ('},',):
                continue
            if st in ('})', '}'):
                if in_cleanup:
                    in_cleanup = False
                    continue
                if cleanup:
                    cur['ops'].extend(cleanup); cleanup = []
                continue
            mg = re.match(r'(\w+)\s*:?=\s*kubernetes\.Get(Pod|Namespace)\(t, s\.Client, "([^"]*)"(?:, "([^"]*)")?', st)
            if mg:
                vars_[mg.group(1)] = (mg.group(3), mg.group(4)); continue
            mg = re.match(r'(\w+)\s*:?=\s*kubernetes\.Get(ClusterNetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy)\(t, s\.Client, "([^"]*)"', st)
            if mg:
                policy = (mg.group(2), mg.group(3)); continue
            mg = re.match(r'err\s*:?=\s*s\.Client\.Get\(ctx, KEY\("([^"]*)","([^"]*)"\), (\w+)\)', st)
            if mg:
                ns, name, v = mg.groups()
                vars_[v] = (ns, name)
                if not ns and v != 'namespace': policy = (kinds.get(v, v), name)
                continue
            if re.match(r'(\w+) :?= &[\w.]+\{\}$', st) or re.match(r'(ctx, cancel|defer cancel|require\.|assert\.|var mask|mask = |\} else \{|if net\.|mutate := |mutateNamespace :?= )', st):
                continue
            mp = re.search(r'kubernetes\.PokeServer\((.*)\)$', st)
            if mp:
                a = split_args(mp.group(1))
                ns, pod, proto, target, port, want = a[3].strip('"'), a[4].strip('"'), a[5].strip('"'), a[6], a[7], a[-1]
                tv = target.split('.')[0]
                if tv not in vars_:
                    todo.append(st); ops.append({'todo': st}); continue
                tns, tpod = vars_[tv]
                pm = re.match(r'int32\((\d+)\)$', port)
                hm = re.match(r'int32\(s\.HostNetworkPorts\[(\d+)\]\)$', port)
                op = {'from': short(ns)+'/'+pod, 'protocol': proto, 'to': short(tns)+'/'+tpod}
                if pm: op['port'] = int(pm.group(1))
                elif hm: op['hostPort'] = int(hm.group(1))
                else: todo.append(st); ops.append({'todo': st}); continue
                op['want'] = 'allow' if want == 'true' else 'deny'
                ops.append({'poke': op}); continue
            ms = re.match(r'(\w+) := "([^"]*)"$', st)
            if ms: consts[ms.group(1)] = ms.group(2); continue
            ms = re.match(r'(\w+)\.Protocols = \[\]api\.ClusterNetworkPolicyProtocol\{ \{ DestinationNamedPort: (\w+), \}, \}$', st) or re.match(r'(\w+)\.Ports = &\[\]v1alpha1\.AdminNetworkPolicyPort\{ \{ NamedPort: &(\w+), \}, \}$', st)
            if ms and ms.group(1) in tmp:
                d, i = tmp[ms.group(1)]
                tmp[ms.group(1)] = (d, i, consts[ms.group(2)]); continue
            ms = re.match(r'newRule := \[\](?:api|v1alpha1)\.(ClusterNetworkPolicyEgressRule|AdminNetworkPolicyEgressRule|BaselineAdminNetworkPolicyEgressRule)\{ \{ Name:\s*"([^"]*)", Action: (?:"(\w+)"|[\w.]*Action(\w+)), To: .*Networks: \[\](?:api|v1alpha1)\.CIDR\{(.*)\}', st)
            if ms:
                nets = ['{%s/%s}' % (short(vars_[v][0]), vars_[v][1]) for v in re.findall(r'(?:api|v1alpha1)\.CIDR\((\w+)\.Status\.PodIP \+ mask\)', ms.group(5))]
                newrule = {'name': ms.group(2), 'action': ms.group(3) or ms.group(4), 'to': [{'networks': nets}]}
                continue
            if re.match(r'mutate\.Spec\.Egress = append\(newRule, mutate\.Spec\.Egress\.\.\.\)$', st):
                ops.append({'insertRule': {'policy': policy[1], 'kind': policy[0], 'direction': 'egress', 'at': 0, 'rule': newrule}}); continue
            ms = re.match(r'(\w+) := mutate(?:\.DeepCopy\(\))?\.Spec\.(Ingress|Egress)\[(\d+)\]$', st)
            if ms: tmp[ms.group(1)] = (ms.group(2), int(ms.group(3))); continue
            ms = re.match(r'mutate\.Spec\.(Ingress|Egress)\[(\d+)\] = mutate\.Spec\.(Ingress|Egress)\[(\d+)\]$', st)
            if ms: continue
            ms = re.match(r'mutate\.Spec\.(Ingress|Egress)\[(\d+)\] = (\w+)$', st)
            if ms and ms.group(3) in tmp and len(tmp[ms.group(3)]) == 3:
                d, i, name = tmp.pop(ms.group(3))
                ops.append({'setNamedPort': {'policy': policy[1], 'kind': policy[0], 'direction': d.lower(), 'rule': i, 'port': name}}); continue
            if ms and ms.group(3) in tmp and tmp[ms.group(3)][0] == ms.group(1):
                d, i = tmp.pop(ms.group(3))
                ops.append({'swap': {'policy': policy[1], 'kind': policy[0], 'direction': d.lower(), 'rules': [i, int(ms.group(2))]}}); continue
            ms = re.match(r'mutate\.Spec\.(Ingress|Egress)\[(\d+)\]\.Action = [\w.]*Action(\w+)$', st)
            if ms:
                ops.append({'setAction': {'policy': policy[1], 'kind': policy[0], 'direction': ms.group(1).lower(), 'rule': int(ms.group(2)), 'action': ms.group(3)}}); continue
            ms = re.match(r'mutate\.Spec\.Priority = (\d+)$', st)
            if ms:
                ops.append({'setPriority': {'policy': policy[1], 'kind': policy[0], 'priority': int(ms.group(1))}}); continue
            if re.match(r'(err = )?(kubernetes\.Patch(ClusterNetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy)|s\.Client\.Patch)\(', st):
                continue
            ms = re.match(r'mutateNamespace\.SetLabels\(map\[string\]string\{(.*)\}\)$', st)
            if ms:
                labels = dict(re.findall(r'"([^"]*)":\s*"([^"]*)"', ms.group(1)))
                ops.append({'namespaceLabels': {'namespace': short(vars_['namespace'][0] if vars_['namespace'][1] is None else vars_['namespace'][1]), 'labels': labels}}); continue
            if st.startswith('kubernetes.PatchNamespace('): continue
            ms = re.match(r'kubernetes\.(Set|Remove)PodLabel\(t, s\.Client, "([^"]*)", "([^"]*)", (\w+|"[^"]*")(?:, "([^"]*)")?', st)
            if ms:
                key = consts.get(ms.group(4), ms.group(4).strip('"'))
                op = {'pod': short(ms.group(2))+'/'+ms.group(3), 'key': key}
                if ms.group(1) == 'Set': op['value'] = ms.group(5); ops.append({'setPodLabel': op})
                else: ops.append({'removePodLabel': op})
                continue
            ms = re.match(r'err = s\.Client\.Delete\(ctx, (\w+)\)$', st)
            if ms:
                ns, name = vars_[ms.group(1)]
                ops.append({'deleteNetworkPolicy': short(ns)+'/'+name}); continue
            todo.append(st); ops.append({'todo': st})
        if cur['ops']: steps.append(cur)
        out.append({'test': short_name, 'source': os.path.relpath(path, root), 'manifests': manifests, 'steps': steps})
    return out, todo

root, out_path, version, commit = sys.argv[1:5]
GLOBAL_CONSTS = {}
for f in os.listdir(os.path.join(root, 'conformance/tests')):
    GLOBAL_CONSTS.update(re.findall(r'^const (\w+)\s*=\s*"([^"]*)"', open(os.path.join(root, 'conformance/tests', f)).read(), re.M))
allc = []; alltodo = []
for f in sorted(os.listdir(os.path.join(root, 'conformance/tests'))):
    if f == 'main.go' or not f.endswith('.go'): continue
    c, t = transcribe(os.path.join(root, 'conformance/tests', f), root)
    allc += c; alltodo += [(f, x) for x in t]
def flow(o): return yaml.safe_dump(o, default_flow_style=True, width=10000, sort_keys=False).strip()
lines = [
"# The conformance tests of sigs.k8s.io/network-policy-api %s (%s), transcribed by" % (version, commit),
"# hack/npapi-conformance-cases.py: each test's manifests (base/, copied unchanged from the",
"# same release, Apache-2.0) and, subtest by subtest in the order they run, the changes it",
"# makes to the objects and every connection it checks (PokeServer: from the client pod to the",
"# server pod's address, with the expected outcome). Changes persist from one subtest to the",
"# next, as they do upstream.",
"# Namespaces are named without their network-policy-conformance- prefix; hostPort: i is the",
"# suite's HostNetworkPorts[i]; {ns/pod} in a rule stands for that pod's address.",
]
for c in allc:
    lines.append("- test: %s" % c['test'])
    lines.append("  source: %s" % c['source'])
    lines.append("  manifests: %s" % flow(c['manifests']))
    lines.append("  steps:")
    for s in c['steps']:
        lines.append("  - name: %s" % json.dumps(s['name']))
        lines.append("    ops:")
        for o in s['ops']:
            lines.append("    - %s" % flow(o))
open(out_path, 'w').write("\n".join(lines) + "\n")
for f, x in alltodo: print(f, "::", x[:220])
print(len(allc), "tests", sum(len([o for s in c["steps"] for o in s["ops"] if "poke" in o]) for c in allc), "pokes", file=sys.stderr)
