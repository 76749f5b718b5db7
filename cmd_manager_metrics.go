package main

import (
	"crypto/tls"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsOptions are the manager's flags for its metrics endpoint, as kubebuilder's
// projects have them: HTTPS on :8443, and every request authenticated (a bearer token,
// checked by a TokenReview) and authorized (a SubjectAccessReview for get on the
// non-resource URL /metrics) by the API server.
type metricsOptions struct {
	bindAddress string
	secure      bool
	// certDir holds tls.crt and tls.key, reloaded when they change; without them the
	// server makes a self-signed certificate in memory.
	certDir     string
	enableHTTP2 bool
}

func (o *metricsOptions) bindFlags(f *pflag.FlagSet) {
	f.StringVar(&o.bindAddress, "metrics-bind-address", ":8443", `address the metrics endpoint binds to; "0" disables it`)
	f.BoolVar(&o.secure, "metrics-secure", true, "serve metrics over HTTPS to authenticated and authorized clients only; false serves plain HTTP to anyone who reaches the port")
	f.StringVar(&o.certDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key for the metrics endpoint (default: a self-signed certificate)")
	f.BoolVar(&o.enableHTTP2, "enable-http2", false, "serve metrics over HTTP/2 too; off because of HTTP/2's stream-reset and stream-cancellation attacks")
}

func (o metricsOptions) serverOptions() metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.bindAddress, SecureServing: o.secure, CertDir: o.certDir}
	if !o.enableHTTP2 {
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	if o.secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}
