package main

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Placeholders stand where a template puts Helm actions: the objects are written as YAML
// with these in place, then each is replaced by its actions, so that the YAML around them
// is the marshaller's and never spliced by hand.
const (
	phLabels     = "__NETDIAG_LABELS__"      // a key: Helm's labels go there
	phCRDKeep    = "__NETDIAG_CRD_KEEP__"    // a key: the keep annotation, when asked for
	phPodExtra   = "__NETDIAG_POD_EXTRA__"   // a key: the manager pod's optional fields
	phArgs       = "__NETDIAG_ARGS__"        // a value: the manager's arguments
	phResources  = "__NETDIAG_RESOURCES__"   // a value: the manager's resources
	phImage      = "__NETDIAG_IMAGE__"       // the manager's image
	phPullPolicy = "__NETDIAG_PULL_POLICY__" // its pull policy
	phReplicas   = "__NETDIAG_REPLICAS__"    // the manager's replicas
	phNamespace  = "__NETDIAG_NAMESPACE__"   // a string that is the namespace
	phInNS       = "__NETDIAG_IN_NAMESPACE__"
)

// podExtras are the manager pod's fields the chart offers as values when config/manager
// leaves them out; each is rendered only when its value is not empty.
var podExtras = []string{"nodeSelector", "tolerations", "affinity"}

// chart is what the templates and the values are written from.
type chart struct {
	objs      []object
	namespace string
	// managerArgs are config/manager's arguments of the manager, in order.
	managerArgs []string
	values      valuesData
}

func newChart(objs []object, flags []managerFlag, optional optionalTrees) (*chart, error) {
	c := &chart{objs: objs}
	c.values.Sections = flagSections(flags)
	for name := range optional {
		c.values.Optional = append(c.values.Optional, name)
	}
	sort.Strings(c.values.Optional)
	var deployments int
	for i := range c.objs {
		o := &c.objs[i]
		switch o.kind() {
		case "Namespace":
			if c.namespace != "" {
				return nil, fmt.Errorf("two namespaces, %s and %s: the chart makes one", c.namespace, o.name())
			}
			c.namespace = o.name()
			o.cond = and(o.cond, ".Values.namespace.create")
		case "CustomResourceDefinition":
			o.cond = and(o.cond, ".Values.crd.enable")
			child(child(o.obj, "metadata"), "annotations")[phCRDKeep] = ""
		case "PriorityClass":
			o.cond = and(o.cond, ".Values.collector.priorityClass.create")
			c.values.PriorityClass = true
		case "Deployment":
			if managerContainer(o.obj) != nil {
				deployments++
				if err := c.manager(o.obj); err != nil {
					return nil, fmt.Errorf("Deployment %s: %w", o.name(), err)
				}
			}
		}
		if strings.HasPrefix(path.Base(o.origin), "metrics_") {
			o.cond = and(o.cond, ".Values.metrics.enable")
		}
		child(child(o.obj, "metadata"), "labels")[phLabels] = ""
	}
	if c.namespace == "" {
		return nil, fmt.Errorf("no Namespace in the tree: the chart needs the one config/manager makes")
	}
	if deployments != 1 {
		return nil, fmt.Errorf("%d Deployments with a container named manager, want 1", deployments)
	}
	c.values.Namespace = c.namespace
	setTree(c.values.Sections, c.managerArgs)
	for i := range c.objs {
		replaceStrings(c.objs[i].obj, c.namespace, phNamespace, phInNS)
	}
	return c, nil
}

// managerContainer is the pod template's container named manager, nil when there is none.
func managerContainer(dep map[string]any) map[string]any {
	spec, _ := dep["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pod, _ := tmpl["spec"].(map[string]any)
	ctrs, _ := pod["containers"].([]any)
	for _, ctr := range ctrs {
		if m, ok := ctr.(map[string]any); ok && m["name"] == "manager" {
			return m
		}
	}
	return nil
}

// manager puts the placeholders into the manager's Deployment and takes the values'
// defaults from it.
func (c *chart) manager(dep map[string]any) error {
	ctr := managerContainer(dep)
	image, ok := ctr["image"].(string)
	if !ok {
		return fmt.Errorf("the manager container names no image")
	}
	c.values.Image = splitImage(image)
	ctr["image"] = phImage
	if p, ok := ctr["imagePullPolicy"].(string); ok {
		c.values.PullPolicy = p
		ctr["imagePullPolicy"] = phPullPolicy
	}
	args, _ := ctr["args"].([]any)
	flagSeen := false
	for _, a := range args {
		s, ok := a.(string)
		if !ok {
			return fmt.Errorf("argument %v is not a string", a)
		}
		// Values replace a flag where config/manager sets it, so every flag must be one
		// argument (--name=value) and come after the subcommand.
		if strings.HasPrefix(s, "-") {
			flagSeen = true
			if !strings.HasPrefix(s, "--") {
				return fmt.Errorf("argument %s: spell flags --name=value", s)
			}
		} else if flagSeen {
			return fmt.Errorf("argument %s follows a flag: spell flags --name=value", s)
		}
		c.managerArgs = append(c.managerArgs, s)
	}
	ctr["args"] = phArgs
	res, err := yaml.Marshal(ctr["resources"])
	if err != nil {
		return fmt.Errorf("write the manager's resources: %w", err)
	}
	if ctr["resources"] == nil {
		res = []byte("{}\n")
	}
	c.values.Resources = strings.TrimRight(indent(string(res), "    "), "\n")
	ctr["resources"] = phResources
	spec := dep["spec"].(map[string]any)
	c.values.Replicas = "1"
	if r, ok := spec["replicas"]; ok {
		c.values.Replicas = fmt.Sprint(r)
	}
	spec["replicas"] = phReplicas
	pod := spec["template"].(map[string]any)["spec"].(map[string]any)
	for _, f := range podExtras {
		if _, set := pod[f]; !set {
			c.values.PodExtras = append(c.values.PodExtras, f)
		}
	}
	pod[phPodExtra] = ""
	return nil
}

// splitImage parts repo:tag@digest; a registry's port is not a tag.
func splitImage(image string) imageValues {
	var v imageValues
	image, v.Digest, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image, v.Tag = image[:i], image[i+1:]
	}
	v.Repository = image
	return v
}

func and(conds ...string) string {
	var nonEmpty []string
	for _, c := range conds {
		if c != "" {
			nonEmpty = append(nonEmpty, c)
		}
	}
	if len(nonEmpty) < 2 {
		return strings.Join(nonEmpty, "")
	}
	return "and (" + strings.Join(nonEmpty, ") (") + ")"
}

// files are the chart's generated files, by path in the chart.
func (c *chart) files() (map[string]string, error) {
	byOrigin := map[string][]string{}
	var origins []string
	for _, o := range c.objs {
		text, err := c.template(o)
		if err != nil {
			return nil, fmt.Errorf("%s %s from config/%s: %w", o.kind(), o.name(), o.origin, err)
		}
		if byOrigin[o.origin] == nil {
			origins = append(origins, o.origin)
		}
		byOrigin[o.origin] = append(byOrigin[o.origin], text)
	}
	files := map[string]string{}
	for _, origin := range origins {
		head := fmt.Sprintf("# Generated by hack/gen-chart.sh from config/%s: edit that file and run `make chart`.\n", origin)
		files[path.Join("templates", origin)] = head + strings.Join(byOrigin[origin], "---\n")
	}
	values, err := c.values.render()
	if err != nil {
		return nil, err
	}
	files["values.yaml"] = values
	schema, err := c.values.schema()
	if err != nil {
		return nil, err
	}
	files["values.schema.json"] = schema
	return files, nil
}

// template is one object as a template: its YAML with the placeholders turned into
// actions, under its condition.
func (c *chart) template(o object) (string, error) {
	raw, err := yaml.Marshal(o.obj)
	if err != nil {
		return "", err
	}
	// Text that looks like an action (a CEL or Go template in a description) is printed as
	// it is.
	text := strings.ReplaceAll(string(raw), "{{", `{{ "{{" }}`)
	var b strings.Builder
	if o.cond != "" {
		fmt.Fprintf(&b, "{{- if %s }}\n", o.cond)
	}
	for line := range strings.Lines(text) {
		out, err := c.line(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return "", err
		}
		b.WriteString(out)
	}
	if o.cond != "" {
		b.WriteString("{{- end }}\n")
	}
	out := b.String()
	if strings.Contains(out, "__NETDIAG_") {
		return "", fmt.Errorf("a placeholder is left in:\n%s", out)
	}
	return out, nil
}

// line turns one line of an object's YAML into the template's lines.
func (c *chart) line(line string) (string, error) {
	key := func(ph string) (string, bool) {
		pre, ok := strings.CutSuffix(line, ph+`: ""`)
		return pre, ok && strings.TrimSpace(pre) == ""
	}
	value := func(ph string) (string, bool) {
		pre, ok := strings.CutSuffix(line, " "+ph)
		return pre, ok
	}
	lines := func(ind string, ls ...string) string {
		return ind + strings.Join(ls, "\n"+ind) + "\n"
	}
	if ind, ok := key(phLabels); ok {
		return lines(ind, fmt.Sprintf(`{{- include "netdiag.labels" $ | nindent %d }}`, len(ind))), nil
	}
	if ind, ok := key(phCRDKeep); ok {
		return lines(ind, "{{- if $.Values.crd.keep }}", `helm.sh/resource-policy: keep`, "{{- end }}"), nil
	}
	if ind, ok := key(phPodExtra); ok {
		var out string
		for _, f := range c.values.PodExtras {
			out += lines(ind, "{{- with $.Values.manager."+f+" }}", f+":",
				fmt.Sprintf("  {{- toYaml . | nindent %d }}", len(ind)+2), "{{- end }}")
		}
		return out, nil
	}
	if pre, ok := value(phArgs); ok {
		tree := make([]string, len(c.managerArgs))
		for i, a := range c.managerArgs {
			tree[i] = strconv.Quote(a)
		}
		// The key's column, counting the dash of a list item.
		col := len(strings.TrimSuffix(pre, "args:"))
		return pre + "\n" + lines(strings.Repeat(" ", col), fmt.Sprintf(
			`{{- include "netdiag.managerArgs" (dict "root" $ "tree" (list %s)) | trim | nindent %d }}`,
			strings.Join(tree, " "), col)), nil
	}
	if pre, ok := value(phResources); ok {
		col := len(strings.TrimSuffix(pre, "resources:")) + 2
		return pre + "\n" + lines(strings.Repeat(" ", col),
			fmt.Sprintf("{{- toYaml $.Values.manager.resources | nindent %d }}", col)), nil
	}
	r := strings.NewReplacer(
		phImage, `{{ include "netdiag.image" $ | quote }}`,
		phPullPolicy, `{{ $.Values.image.pullPolicy | quote }}`,
		phReplicas, `{{ $.Values.manager.replicas }}`,
		phNamespace, `{{ include "netdiag.namespace" $ | quote }}`,
		phInNS, `{{ include "netdiag.namespace" $ }}`,
	)
	return r.Replace(line) + "\n", nil
}

func indent(text, ind string) string {
	var b strings.Builder
	for l := range strings.Lines(text) {
		b.WriteString(ind + l)
	}
	return b.String()
}
