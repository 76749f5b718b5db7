package crd

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestAdd(t *testing.T) {
	var o Objects
	for name, tc := range map[string]struct {
		doc     string
		taken   bool
		wantErr bool
	}{
		"a Calico NetworkPolicy": {doc: `{"apiVersion":"crd.projectcalico.org/v1","kind":"NetworkPolicy","metadata":{"name":"default.a","namespace":"ns"},
			"spec":{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[80,"8000:9000","http"]}},{"action":"Deny","protocol":6}]}}`, taken: true},
		"Kubernetes' NetworkPolicy is not Calico's": {doc: `{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"a"}}`},
		"a Calico kind the model does not read":     {doc: `{"apiVersion":"crd.projectcalico.org/v1","kind":"IPPool","metadata":{"name":"p"}}`},
		"a spec of the wrong shape":                 {doc: `{"apiVersion":"crd.projectcalico.org/v1","kind":"Tier","metadata":{"name":"t"},"spec":{"order":"first"}}`, wantErr: true},
		"not JSON":                                  {doc: `{`, wantErr: true},
		"too large":                                 {doc: `{"kind":"` + strings.Repeat("x", maxObject) + `"}`, wantErr: true},
	} {
		taken, err := o.Add([]byte(tc.doc))
		if taken != tc.taken || (err != nil) != tc.wantErr {
			t.Errorf("%s: taken %v, error %v; want taken %v, error %v", name, taken, err, tc.taken, tc.wantErr)
		}
	}
	if len(o.NetworkPolicies) != 1 {
		t.Fatalf("NetworkPolicies = %d, want 1", len(o.NetworkPolicies))
	}
	r := o.NetworkPolicies[0].Spec.Ingress
	ports := r[0].Destination.Ports
	if len(ports) != 3 || ports[0] != intstr.FromInt32(80) || ports[1] != intstr.FromString("8000:9000") || ports[2] != intstr.FromString("http") {
		t.Errorf("ports = %v", ports)
	}
	if r[1].Protocol == nil || *r[1].Protocol != intstr.FromInt32(6) {
		t.Errorf("numeric protocol = %v", r[1].Protocol)
	}
	items, err := o.Items()
	if err != nil || len(items) != 1 || items[0]["kind"] != KindNetworkPolicy || items[0]["apiVersion"] != "crd.projectcalico.org/v1" {
		t.Errorf("Items() = %v, %v", items, err)
	}
}
