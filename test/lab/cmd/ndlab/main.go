// Command ndlab drives the lab by hand: `ndlab up` brings a cluster up in network namespaces
// and leaves it running in the background, `ndlab status` shows it, `ndlab exec` runs a
// command inside one of its namespaces, `ndlab probe` sends real packets, and `ndlab down`
// removes everything, also after a crash.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdiag/netdiag/test/lab"
)

// readyLine is what the background lab prints once it is up; `up` waits for it.
const readyLine = "NDLAB-READY"

type options struct {
	name      string
	dir       string
	nodes     int
	mode      string
	proxyMode string
	// felix is felix's dataplane in the calico modes; empty is the lab's default.
	felix    string
	apiPort  int
	images   []string
	nodeKind string
	archives []string
}

func (o *options) labDir() string {
	if o.dir != "" {
		return o.dir
	}
	return filepath.Join(os.TempDir(), o.name)
}

func (o *options) config(log logr.Logger) (lab.Config, error) {
	cfg := lab.Config{
		Name: o.name, Dir: o.labDir(), Nodes: o.nodes, Mode: lab.Mode(o.mode),
		ProxyMode: lab.ProxyMode(o.proxyMode), FelixDataplane: lab.FelixDataplane(o.felix), APIPort: o.apiPort,
		Log: log, NodeKind: lab.NodeKind(o.nodeKind),
	}
	var err error
	if cfg.Images, err = imageFiles("--image", "BINARY", o.images); err != nil {
		return cfg, err
	}
	cfg.OCIImages, err = imageFiles("--image-archive", "ARCHIVE", o.archives)
	return cfg, err
}

// imageFiles reads IMAGE=FILE flags into a map of images to absolute paths.
func imageFiles(flag, what string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		image, file, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%s %q: want IMAGE=%s", flag, kv, what)
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, kv, err)
		}
		out[image] = abs
	}
	return out, nil
}

func main() {
	o := &options{}
	root := &cobra.Command{
		Use:           "ndlab",
		Short:         "A Kubernetes data plane in network namespaces, for netdiag's end-to-end tests",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&o.name, "name", "ndlab", "lab name, the prefix of its namespaces")
	root.PersistentFlags().StringVar(&o.dir, "dir", "", "lab directory (default $TMPDIR/<name>)")

	up := &cobra.Command{
		Use:   "up",
		Short: "Bring a lab up and leave it running in the background",
		RunE:  func(cmd *cobra.Command, _ []string) error { return runUp(cmd.Context(), o) },
	}
	for _, c := range []*cobra.Command{up} {
		c.Flags().IntVar(&o.nodes, "nodes", 2, "number of nodes")
		c.Flags().StringVar(&o.mode, "mode", string(lab.ModeFlannelVXLAN), fmt.Sprintf("pod network, one of %v", lab.Modes))
		c.Flags().StringVar(&o.proxyMode, "proxy-mode", string(lab.ProxyIPTables), "kube-proxy mode: iptables or nftables")
		c.Flags().StringVar(&o.felix, "felix-dataplane", "", "felix's dataplane in the calico modes: iptables (default) or nftables")
		c.Flags().IntVar(&o.apiPort, "api-port", 16443, "127.0.0.1 port of the API server in the root namespace (0: any)")
		c.Flags().StringArrayVar(&o.images, "image", nil, "IMAGE=BINARY: run hostNetwork containers of IMAGE with BINARY (repeatable)")
		c.Flags().StringVar(&o.nodeKind, "node-kind", string(lab.NodesStandIn), fmt.Sprintf("what runs the nodes' pods, one of %v", lab.NodeKinds))
		c.Flags().StringArrayVar(&o.archives, "image-archive", nil, "IMAGE=ARCHIVE: import the OCI archive as IMAGE (on every real node; for hostNetwork containers on stand-in nodes) (repeatable)")
	}
	serve := &cobra.Command{
		Use:    "serve",
		Hidden: true,
		RunE:   func(cmd *cobra.Command, _ []string) error { return runServe(o) },
	}
	serve.Flags().AddFlagSet(up.Flags())

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and remove everything it made (also after a crash)",
		RunE:  func(cmd *cobra.Command, _ []string) error { return runDown(cmd.Context(), o) },
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the lab's namespaces, nodes and pods",
		RunE:  func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), o) },
	}
	execCmd := &cobra.Command{
		Use:   "exec TARGET -- COMMAND...",
		Short: "Run a command in a lab namespace: cp, ext, underlay, node-N, NAMESPACE/POD or a namespace name",
		Args:  cobra.MinimumNArgs(2),
		RunE:  func(cmd *cobra.Command, args []string) error { return runExec(o, args[0], args[1:]) },
	}
	var proto string
	var timeout time.Duration
	probe := &cobra.Command{
		Use:   "probe FROM ADDRESS:PORT",
		Short: "Send real packets from a lab namespace (as for exec) and say whether they got an answer",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbe(cmd.Context(), o, args[0], args[1], proto, timeout)
		},
	}
	probe.Flags().StringVar(&proto, "proto", "tcp", "tcp, udp or icmp")
	probe.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for an answer")
	root.AddCommand(up, serve, down, status, execCmd, probe)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ndlab:", err)
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		os.Exit(1)
	}
}

// runUp starts `ndlab serve` in its own session and waits until it reports the lab up.
func runUp(ctx context.Context, o *options) error {
	if err := lab.Check("", lab.Mode(o.mode)); err != nil {
		return err
	}
	if err := lab.CheckNodes("", lab.NodeKind(o.nodeKind)); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create pipe: %w", err)
	}
	cmd := exec.Command(self, serveArgs(o)...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start lab: %w", err)
	}
	w.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, readyLine+" "); ok {
			fmt.Printf("lab %s up in %s (pid %d)\n", o.name, time.Since(start).Round(time.Millisecond), cmd.Process.Pid)
			fmt.Printf("export KUBECONFIG=%s\n", rest)
			return cmd.Process.Release()
		}
		fmt.Fprintln(os.Stderr, line)
	}
	_ = cmd.Wait()
	return fmt.Errorf("lab %s did not come up", o.name)
}

// serveArgs are the arguments of the background `ndlab serve` that `up` starts: every
// option, whether it was given before the subcommand (--name, --dir) or after it.
func serveArgs(o *options) []string {
	args := []string{"serve", "--name", o.name, "--nodes", strconv.Itoa(o.nodes), "--mode", o.mode,
		"--proxy-mode", o.proxyMode, "--api-port", strconv.Itoa(o.apiPort)}
	if o.dir != "" {
		args = append(args, "--dir", o.dir)
	}
	if o.felix != "" {
		args = append(args, "--felix-dataplane", o.felix)
	}
	for _, img := range o.images {
		args = append(args, "--image", img)
	}
	if o.nodeKind != "" {
		args = append(args, "--node-kind", o.nodeKind)
	}
	for _, a := range o.archives {
		args = append(args, "--image-archive", a)
	}
	return args
}

// runServe runs the lab in the foreground until SIGTERM or SIGINT, then takes it down.
func runServe(o *options) error {
	logOut := &switchWriter{w: os.Stderr}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(logOut, prefix, args) }, funcr.Options{Verbosity: 1})
	cfg, err := o.config(log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	upCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	l, err := lab.Up(upCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	// From here on nobody reads the pipe: log to the lab directory instead.
	f, err := os.OpenFile(filepath.Join(cfg.Dir, "logs", "ndlab.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Printf("%s %s\n", readyLine, l.Kubeconfig())
		logOut.set(f)
		_ = syscall.Dup2(int(f.Fd()), 1)
		_ = syscall.Dup2(int(f.Fd()), 2)
	}
	<-ctx.Done()
	log.Info("Taking the lab down")
	return l.Down(context.Background())
}

type switchWriter struct{ w *os.File }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *switchWriter) set(f *os.File)              { s.w = f }

func runDown(ctx context.Context, o *options) error {
	if st, err := lab.ReadState(o.labDir()); err == nil && st.PID > 0 {
		if p, err := os.FindProcess(st.PID); err == nil && p.Signal(syscall.SIGTERM) == nil {
			for i := 0; i < 200 && p.Signal(syscall.Signal(0)) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
			_ = p.Signal(syscall.SIGKILL)
		}
	}
	// Whatever the background process did not remove (it crashed, it was killed) goes now.
	if err := lab.Sweep(ctx, o.name, o.labDir()); err != nil {
		return err
	}
	fmt.Printf("lab %s down\n", o.name)
	return nil
}

func runStatus(ctx context.Context, o *options) error {
	st, err := lab.ReadState(o.labDir())
	if err != nil {
		return fmt.Errorf("lab %s is not up: %w", o.name, err)
	}
	alive := syscall.Kill(st.PID, 0) == nil
	fmt.Printf("lab %s: mode %s, kube-proxy %s, pid %d (running: %v)\nAPI server %s, KUBECONFIG=%s\n",
		st.Name, st.Mode, st.ProxyMode, st.PID, alive, st.API, st.Kubeconfig)
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.Timeout = 5 * time.Second
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	fmt.Println("\nNODE\tNETNS\tIP\tPOD CIDR\tREADY")
	for _, sn := range st.Nodes {
		ready := "?"
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if n.Name == sn.Name && cond.Type == corev1.NodeReady {
					ready = string(cond.Status)
				}
			}
		}
		fmt.Printf("%s\t%s\t%s\t%s\t%s\n", sn.Name, sn.Netns, sn.IP, sn.PodCIDR, ready)
	}
	fmt.Printf("\nexternal host: %s\n", st.External)
	if len(st.Pods) > 0 {
		fmt.Println("\nPOD\tNETNS")
		keys := make([]string, 0, len(st.Pods))
		for k := range st.Pods {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("%s\t%s\n", k, st.Pods[k])
		}
	}
	return nil
}

// resolveTarget turns cp, ext, underlay, node-N, NAMESPACE/POD or a namespace name into a
// network namespace of the lab.
func resolveTarget(o *options, target string) (string, error) {
	if strings.Contains(target, "/") {
		st, err := lab.ReadState(o.labDir())
		if err != nil {
			return "", err
		}
		namespace, name, _ := strings.Cut(target, "/")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return st.PodNetns(ctx, namespace, name)
	}
	if strings.HasPrefix(target, o.name+"-") {
		return target, nil
	}
	return o.name + "-" + target, nil
}

func runExec(o *options, target string, argv []string) error {
	ns, err := resolveTarget(o, target)
	if err != nil {
		return err
	}
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

func runProbe(ctx context.Context, o *options, from, to, proto string, timeout time.Duration) error {
	ns, err := resolveTarget(o, from)
	if err != nil {
		return err
	}
	spec := lab.ProbeSpec{From: ns, Protocol: lab.Protocol(strings.ToUpper(proto)), Timeout: timeout}
	if spec.Protocol == lab.ICMP && !strings.Contains(to, ":") {
		to += ":0"
	}
	if spec.To, err = netip.ParseAddrPort(to); err != nil {
		return fmt.Errorf("destination %q: %w", to, err)
	}
	res := lab.Probe(ctx, spec)
	fmt.Printf("%s %s -> %s: %s\n", spec.Protocol, ns, spec.To, res)
	if !res.Reachable {
		os.Exit(2)
	}
	return nil
}
