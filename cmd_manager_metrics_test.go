package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TestMetricsNeedAuthorizedToken starts the manager's metrics server as its flags set it
// up, running as the manager's service account with only config/rbac's metrics roles,
// against a real API server, and scrapes it: without a token, with the token of a service
// account that may not read metrics, and with one bound to netdiag-metrics-reader.
func TestMetricsNeedAuthorizedToken(t *testing.T) {
	_, cfg := startEnvtest(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	const ns = "netdiag-system"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"netdiag-manager", "prometheus", "stranger"} {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"metrics_auth_role.yaml", "metrics_auth_role_binding.yaml", "metrics_reader_role.yaml"} {
		applyRBAC(ctx, t, cs, filepath.Join("config", "rbac", file))
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-netdiag-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "netdiag-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(sa string) string {
		t.Helper()
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	// The manager's identity is its service account's: the TokenReviews and
	// SubjectAccessReviews it sends are allowed by config/rbac alone.
	managerCfg := rest.AnonymousClientConfig(cfg)
	managerCfg.BearerToken = token("netdiag-manager")
	httpClient, err := rest.HTTPClientFor(managerCfg)
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	var o metricsOptions
	o.bindFlags(fs)
	if err := fs.Parse([]string{"--metrics-bind-address", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(o.serverOptions(), managerCfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Start(srvCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})
	var addr string
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		addr = srv.(interface{ GetBindAddr() string }).GetBindAddr()
		return addr != "", nil
	}); err != nil {
		t.Fatalf("metrics server did not listen: %v", err)
	}

	// The certificate is self-signed; what is checked here is who may read, not who serves.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(bearer string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}

	if code, body := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d %q, want 401", code, body)
	}
	// controller-runtime's filter answers 500 here: the TokenReview's "invalid token" comes
	// back as an error, not as a plain no. Refused all the same.
	if code, body := scrape("not-a-token"); code == http.StatusOK || strings.Contains(body, "# TYPE ") {
		t.Errorf("a token the API server does not know: %d %q, want a refusal", code, body)
	}
	if code, body := scrape(token("stranger")); code != http.StatusForbidden {
		t.Errorf("a token without netdiag-metrics-reader: %d %q, want 403", code, body)
	}
	code, body := scrape(token("prometheus"))
	if code != http.StatusOK {
		t.Fatalf("a token bound to netdiag-metrics-reader: %d %q, want 200", code, body)
	}
	if !strings.Contains(body, "# TYPE ") || !strings.Contains(body, "go_goroutines ") {
		t.Errorf("the answer is not Prometheus text:\n%.500s", body)
	}

	plain, err := http.Get("http://" + addr + "/metrics")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("plain HTTP was answered with metrics")
		}
	}
}

// TestMetricsFlagsDefaultToSecure checks the manager's defaults: HTTPS on :8443 behind the
// API server's authentication and authorization, as config/default deploys it.
func TestMetricsFlagsDefaultToSecure(t *testing.T) {
	flags := newManagerCommand().Flags()
	for name, want := range map[string]string{"metrics-bind-address": ":8443", "metrics-secure": "true", "enable-http2": "false"} {
		if f := flags.Lookup(name); f == nil || f.DefValue != want {
			t.Errorf("manager --%s: %+v, want default %q", name, f, want)
		}
	}
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	var o metricsOptions
	o.bindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	opts := o.serverOptions()
	if opts.BindAddress != ":8443" || !opts.SecureServing || opts.FilterProvider == nil {
		t.Errorf("default metrics options: bind %q, secure %v, filter set %v; want :8443, true, true",
			opts.BindAddress, opts.SecureServing, opts.FilterProvider != nil)
	}
	var tc tls.Config
	for _, f := range opts.TLSOpts {
		f(&tc)
	}
	if len(tc.NextProtos) != 1 || tc.NextProtos[0] != "http/1.1" {
		t.Errorf("metrics TLS protocols %v, want only http/1.1 unless --enable-http2", tc.NextProtos)
	}
}

// applyRBAC creates the RBAC objects of a YAML file of config/.
func applyRBAC(ctx context.Context, t *testing.T, cs kubernetes.Interface, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := clientgoscheme.Codecs.UniversalDeserializer().Decode
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("%s: unexpected %T", path, obj)
		}
		if err != nil {
			t.Fatalf("create from %s: %v", path, err)
		}
	}
}
