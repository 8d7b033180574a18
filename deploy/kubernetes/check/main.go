// Command check validates the Kubernetes manifests of deploy/kubernetes without a cluster and
// without the network: it builds each kustomization with the kustomize API (what `kubectl apply
// -k` runs), decodes every resource strictly into the typed Kubernetes API structs of k8s.io/api
// (an unknown or misspelt field, a wrong type, a duplicate key or an unknown kind fails, as the
// API server's strict field validation does), checks names and labels with apimachinery's
// validators, and then checks what this project relies on:
//
//   - every target (ingest, enricher, dispatcher, realtime, api) is a Deployment of the one image
//     with -target=<target>, a port named http, readiness on /readyz and liveness on /livez,
//     CPU and memory requests and limits, non-root, the ConfigMap in envFrom;
//
//   - each has a Service and a PodDisruptionBudget whose selectors match its pods and nothing
//     else, and the budget lets one pod go;
//
//   - the enricher's and dispatcher's HorizontalPodAutoscalers use the external metric
//     citybrain_consumer_lag for their own consumer group (TOPIC_PREFIX + group), and never ask
//     for more replicas than the topics have partitions;
//
//   - the topics Job runs `citybrain topics`;
//
//   - the Ingress sends /ws to realtime, /api/v1/ingest and /open311 to ingest, / to api, and
//     every backend names a Service and port that exist;
//
//   - every ConfigMap key is a variable services/config reads (read from its source), and every
//     Secret or ConfigMap a pod names exists (overlays only: the base leaves the secret to them).
//
//     cd deploy/kubernetes/check && GOWORK=off go run . ../base ../overlays/county ../../grafana/citybrain.json
//
// A .json argument is a Grafana dashboard: it must parse, and every citybrain_* series it queries
// must be one the services register (read from their source).
//
// An overlay's auth.env and users.yaml (not committed) are taken from auth.env.example and
// users.yaml.example when missing. It is its
// own module, outside go.work, so the services never depend on the Kubernetes libraries.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var targets = []string{"ingest", "enricher", "dispatcher", "realtime", "api"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check KUSTOMIZATION_DIR...")
		os.Exit(2)
	}
	known, err := configVars()
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(1)
	}
	failed := false
	for _, dir := range os.Args[1:] {
		if strings.HasSuffix(dir, ".json") {
			problems, n, err := checkDashboard(dir)
			if err != nil {
				problems = append(problems, err.Error())
			}
			for _, p := range problems {
				fmt.Fprintf(os.Stderr, "check: %s: %s\n", dir, p)
			}
			if len(problems) > 0 {
				failed = true
			} else {
				fmt.Printf("check: %s valid (Grafana dashboard: %d panels, every citybrain_* series it queries is registered by the services)\n", dir, n)
			}
			continue
		}
		objs, err := build(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "check: %s: %v\n", dir, err)
			failed = true
			continue
		}
		overlay := !strings.HasSuffix(filepath.Clean(dir), "base")
		problems := check(objs, known, overlay)
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "check: %s: %s\n", dir, p)
		}
		if len(problems) > 0 {
			failed = true
			continue
		}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.kind]++
		}
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%d %s", n, k))
		}
		sort.Strings(ks)
		fmt.Printf("check: %s valid (kustomize build, strict decoding into k8s.io/api types, project rules): %s\n", dir, strings.Join(ks, ", "))
	}
	if failed {
		os.Exit(1)
	}
}

// object is one decoded resource of a build.
type object struct {
	kind, name, namespace string
	obj                   any
}

func (o object) String() string { return o.kind + "/" + o.name }

// build runs kustomize on dir (copied into memory, with each *.example file's real name where
// missing) and decodes every resource strictly.
func build(dir string) ([]object, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// The whole deploy/kubernetes tree, so that ../../base resolves.
	top := abs
	for filepath.Base(top) != "kubernetes" && filepath.Dir(top) != top {
		top = filepath.Dir(top)
	}
	mem := filesys.MakeFsInMemory()
	err = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "check" {
				return filepath.SkipDir
			}
			return mem.MkdirAll(path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := mem.WriteFile(path, b); err != nil {
			return err
		}
		if strings.HasSuffix(path, ".example") {
			real := strings.TrimSuffix(path, ".example")
			if _, err := os.Stat(real); errors.Is(err, fs.ErrNotExist) {
				return mem.WriteFile(real, b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(mem, abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	var out []object
	var errs []error
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o, err := decode(y)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", r.GetKind(), r.GetName(), err))
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

// decode turns one YAML document into its typed Kubernetes object, strictly.
func decode(y []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return object{}, err
	}
	var tm metav1.TypeMeta
	if err := sjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return object{}, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 Namespace":
		obj = &corev1.Namespace{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "batch/v1 Job":
		obj = &batchv1.Job{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 Ingress":
		obj = &networkingv1.Ingress{}
	case "networking.k8s.io/v1 NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	default:
		return object{}, fmt.Errorf("kind %q of apiVersion %q is not one this check knows (add it)", tm.Kind, tm.APIVersion)
	}
	strict, err := sjson.UnmarshalStrict(j, obj)
	if err != nil {
		return object{}, err
	}
	if len(strict) > 0 {
		return object{}, errors.Join(strict...)
	}
	m := obj.(metav1.Object)
	return object{kind: tm.Kind, name: m.GetName(), namespace: m.GetNamespace(), obj: obj}, nil
}

// checkDashboard checks a Grafana dashboard: JSON, unique panel ids, a Prometheus query on every
// panel but rows, and every citybrain_* metric it names registered somewhere in services/ (a
// histogram's _bucket series by its base name).
func checkDashboard(path string) ([]string, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, 0, fmt.Errorf("not a dashboard: %w", err)
	}
	services, err := findUp("services")
	if err != nil {
		return nil, 0, err
	}
	registered := map[string]bool{}
	name := regexp.MustCompile(`"(citybrain_[a-z0-9_]+)"`)
	err = filepath.WalkDir(services, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		src, err := os.ReadFile(p)
		for _, m := range name.FindAllSubmatch(src, -1) {
			registered[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	var problems []string
	if d.UID == "" || d.Title == "" {
		problems = append(problems, "uid and title are required")
	}
	ids := map[int]bool{}
	used := regexp.MustCompile(`\bcitybrain_[a-z0-9_]+`)
	for _, p := range d.Panels {
		if ids[p.ID] {
			problems = append(problems, fmt.Sprintf("panel id %d used twice", p.ID))
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			problems = append(problems, fmt.Sprintf("panel %q has no query", p.Title))
		}
		for _, t := range p.Targets {
			if strings.Count(t.Expr, "(") != strings.Count(t.Expr, ")") || strings.Count(t.Expr, "{") != strings.Count(t.Expr, "}") {
				problems = append(problems, fmt.Sprintf("panel %q: unbalanced query %s", p.Title, t.Expr))
			}
			for _, m := range used.FindAllString(t.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !registered[base] {
					problems = append(problems, fmt.Sprintf("panel %q: %s is not a metric the services register", p.Title, m))
				}
			}
		}
	}
	return problems, len(d.Panels), nil
}

// configVars are the environment variables services/config reads, taken from its source.
func configVars() (map[string]bool, error) {
	src, err := findUp("services/config/config.go")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(?:str|num|boolean|list|getenv)\("([A-Z][A-Z0-9_]+)"`).FindAllSubmatch(b, -1) {
		known[string(m[1])] = true
	}
	if len(known) < 5 {
		return nil, fmt.Errorf("%s: found only %d variables; has config.Load changed its shape?", src, len(known))
	}
	return known, nil
}

func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found above the working directory", rel)
		}
		dir = parent
	}
}

// check applies the project's rules to one build.
func check(objs []object, known map[string]bool, overlay bool) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	byKind := map[string]map[string]any{}
	for _, o := range objs {
		if byKind[o.kind] == nil {
			byKind[o.kind] = map[string]any{}
		}
		if _, dup := byKind[o.kind][o.name]; dup {
			bad("%s defined twice", o)
		}
		byKind[o.kind][o.name] = o.obj
		for _, msg := range validation.IsDNS1123Subdomain(o.name) {
			bad("%s: name: %s", o, msg)
		}
		for k, v := range o.obj.(metav1.Object).GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				bad("%s: label %s=%s: %s", o, k, v, msg)
			}
		}
	}
	if overlay {
		namespaces := map[string]bool{}
		for _, o := range objs {
			if o.kind != "Namespace" {
				namespaces[o.namespace] = true
			}
		}
		if len(namespaces) != 1 || namespaces[""] {
			bad("an overlay puts everything in one namespace, found %v", keys(namespaces))
		}
	}

	cfg, _ := byKind["ConfigMap"]["citybrain-config"].(*corev1.ConfigMap)
	if cfg == nil {
		bad("ConfigMap citybrain-config missing")
		cfg = &corev1.ConfigMap{}
	}
	for k := range cfg.Data {
		if !known[k] {
			bad("ConfigMap citybrain-config: %s is not a variable services/config reads", k)
		}
	}
	for _, k := range []string{"KAFKA_BROKERS", "REDIS_ADDR", "TOPIC_PREFIX", "KAFKA_PARTITIONS", "KAFKA_REPLICATION_FACTOR"} {
		if cfg.Data[k] == "" {
			bad("ConfigMap citybrain-config: %s is not set", k)
		}
	}
	// Several api pods: uploaded photos must be in storage they share (services/media), not on
	// each pod's own disk.
	if api, _ := byKind["Deployment"]["citybrain-api"].(*appsv1.Deployment); api != nil && (api.Spec.Replicas == nil || *api.Spec.Replicas > 1) {
		if cfg.Data["MEDIA_S3_ENDPOINT"] == "" || cfg.Data["MEDIA_S3_BUCKET"] == "" {
			bad("ConfigMap citybrain-config: MEDIA_S3_ENDPOINT and MEDIA_S3_BUCKET are required with more than one api pod (photos on a pod's own disk are lost to the others and on restart)")
		}
	}
	partitions, err := strconv.Atoi(cfg.Data["KAFKA_PARTITIONS"])
	if err != nil || partitions < 1 {
		bad("ConfigMap citybrain-config: KAFKA_PARTITIONS=%q is not a positive integer", cfg.Data["KAFKA_PARTITIONS"])
	}

	var image string
	podLabels := map[string]map[string]string{} // deployment → pod labels
	for _, t := range targets {
		name := "citybrain-" + t
		d, _ := byKind["Deployment"][name].(*appsv1.Deployment)
		if d == nil {
			bad("Deployment %s missing", name)
			continue
		}
		problems = append(problems, checkDeployment(d, t, &image, byKind, overlay)...)
		podLabels[name] = d.Spec.Template.Labels
	}
	// Selectors of Services and budgets: each matches exactly one Deployment's pods.
	matchOne := func(what string, sel *metav1.LabelSelector, want string) {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() {
			bad("%s: selector %v: %v", what, sel, err)
			return
		}
		var hits []string
		for dep, l := range podLabels {
			if s.Matches(labels.Set(l)) {
				hits = append(hits, dep)
			}
		}
		if len(hits) != 1 || hits[0] != want {
			bad("%s: selector matches %v, want only %s", what, hits, want)
		}
	}
	for _, t := range targets {
		name := "citybrain-" + t
		svc, _ := byKind["Service"][name].(*corev1.Service)
		if svc == nil {
			bad("Service %s missing", name)
		} else {
			matchOne("Service "+name, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, name)
			if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
				bad("Service %s: want a port named http to targetPort http", name)
			}
		}
		pdb, _ := byKind["PodDisruptionBudget"][name].(*policyv1.PodDisruptionBudget)
		if pdb == nil {
			bad("PodDisruptionBudget %s missing", name)
			continue
		}
		matchOne("PodDisruptionBudget "+name, pdb.Spec.Selector, name)
		if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() == "0" || mu.String() == "0%" {
			bad("PodDisruptionBudget %s: want maxUnavailable of at least one pod (minAvailable can block every drain)", name)
		}
	}

	// Autoscalers.
	prefix := cfg.Data["TOPIC_PREFIX"]
	for _, t := range targets {
		name := "citybrain-" + t
		h, _ := byKind["HorizontalPodAutoscaler"][name].(*autoscalingv2.HorizontalPodAutoscaler)
		if h == nil {
			bad("HorizontalPodAutoscaler %s missing", name)
			continue
		}
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != name || byKind["Deployment"][name] == nil {
			bad("HorizontalPodAutoscaler %s: scaleTargetRef %+v does not name Deployment %s", name, h.Spec.ScaleTargetRef, name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			bad("HorizontalPodAutoscaler %s: want 2 ≤ minReplicas ≤ maxReplicas", name)
		}
		if t != "enricher" && t != "dispatcher" {
			continue
		}
		if partitions > 0 && int(h.Spec.MaxReplicas) > partitions {
			bad("HorizontalPodAutoscaler %s: maxReplicas %d > KAFKA_PARTITIONS %d (the extra consumers would idle)", name, h.Spec.MaxReplicas, partitions)
		}
		group := prefix + "citybrain-" + t
		found := false
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil && m.External.Metric.Name == "citybrain_consumer_lag" {
				found = true
				if sel := m.External.Metric.Selector; sel == nil || sel.MatchLabels["group"] != group {
					bad("HorizontalPodAutoscaler %s: citybrain_consumer_lag selector %v, want group=%s (TOPIC_PREFIX + group)", name, sel, group)
				}
				if m.External.Target.Type != autoscalingv2.AverageValueMetricType || m.External.Target.AverageValue == nil {
					bad("HorizontalPodAutoscaler %s: the lag target should be an AverageValue (lag per pod)", name)
				}
			}
		}
		if !found {
			bad("HorizontalPodAutoscaler %s: no external metric citybrain_consumer_lag", name)
		}
	}

	// The topics Job.
	if j, _ := byKind["Job"]["citybrain-topics"].(*batchv1.Job); j == nil {
		bad("Job citybrain-topics missing")
	} else {
		spec := j.Spec.Template.Spec
		if len(spec.Containers) != 1 || !slices.Equal(spec.Containers[0].Args, []string{"topics"}) {
			bad("Job citybrain-topics: want one container with args [topics]")
		} else if spec.Containers[0].Image != image {
			bad("Job citybrain-topics: image %q, the services run %q", spec.Containers[0].Image, image)
		}
		if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
			bad("Job citybrain-topics: restartPolicy %q", spec.RestartPolicy)
		}
		problems = append(problems, checkRefs("Job citybrain-topics", spec, byKind, overlay)...)
	}

	// The Ingress.
	ing, _ := byKind["Ingress"]["citybrain"].(*networkingv1.Ingress)
	if ing == nil {
		bad("Ingress citybrain missing")
		return problems
	}
	routes := map[string]string{}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			svc := p.Backend.Service
			if svc == nil {
				bad("Ingress: path %s has no service backend", p.Path)
				continue
			}
			s, _ := byKind["Service"][svc.Name].(*corev1.Service)
			if s == nil {
				bad("Ingress: path %s → Service %s, which does not exist", p.Path, svc.Name)
			} else if !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
				return sp.Name == svc.Port.Name && svc.Port.Name != "" || svc.Port.Number != 0 && sp.Port == svc.Port.Number
			}) {
				bad("Ingress: path %s → Service %s port %+v, which it does not have", p.Path, svc.Name, svc.Port)
			}
			routes[p.Path] = svc.Name
		}
	}
	for path, want := range map[string]string{"/ws": "citybrain-realtime", "/api/v1/ingest": "citybrain-ingest", "/open311": "citybrain-ingest", "/": "citybrain-api"} {
		if routes[path] != want {
			bad("Ingress: %s goes to %q, want %s", path, routes[path], want)
		}
	}
	return problems
}

func checkDeployment(d *appsv1.Deployment, t string, image *string, byKind map[string]map[string]any, overlay bool) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, "Deployment "+d.Name+": "+fmt.Sprintf(format, args...))
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		bad("selector %v does not match the pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 2 {
		bad("replicas %d: at least 2, so that one can go", *d.Spec.Replicas)
	}
	spec := d.Spec.Template.Spec
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		bad("pods must run as non-root")
	}
	if len(spec.Containers) != 1 {
		bad("want one container, found %d", len(spec.Containers))
		return problems
	}
	c := spec.Containers[0]
	if *image == "" {
		*image = c.Image
	} else if c.Image != *image {
		bad("image %q, others run %q: every target is the same image", c.Image, *image)
	}
	if !slices.Equal(c.Args, []string{"-target=" + t}) {
		bad("args %v, want [-target=%s]", c.Args, t)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		bad("want one container port named http on 8080 (HTTP_ADDR)")
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			bad("%s probe: want GET %s on port http", what, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/livez")
	if t == "dispatcher" && (c.StartupProbe == nil || int(c.StartupProbe.PeriodSeconds)*int(c.StartupProbe.FailureThreshold) < 600) {
		bad("the dispatcher rebuilds Redis before it listens: want a startup probe allowing ≥ 10 minutes")
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := c.Resources.Requests[res]
		lim, okl := c.Resources.Limits[res]
		if !okr || !okl {
			bad("%s request and limit are required", res)
		} else if req.Cmp(lim) > 0 {
			bad("%s request %s above its limit %s", res, req.String(), lim.String())
		}
	}
	hasConfig := slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool {
		return e.ConfigMapRef != nil && e.ConfigMapRef.Name == "citybrain-config" || e.ConfigMapRef != nil && strings.HasPrefix(e.ConfigMapRef.Name, "citybrain-config-")
	})
	if !hasConfig {
		bad("envFrom must include ConfigMap citybrain-config")
	}
	if t == "api" && !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool { return e.SecretRef != nil }) {
		bad("the api needs AUTH_SECRET from a Secret (several instances verify each other's tokens)")
	}
	if t == "api" {
		problems = append(problems, checkUsers(d.Name, spec, c, byKind)...)
	}
	problems = append(problems, checkRefs("Deployment "+d.Name, spec, byKind, overlay)...)
	return problems
}

// checkUsers: the api logs in the city's accounts from USERS_FILE, a file in a volume from a
// Secret, and never the demo accounts (their passwords are in the README).
func checkUsers(name string, spec corev1.PodSpec, c corev1.Container, byKind map[string]map[string]any) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, "Deployment "+name+": "+fmt.Sprintf(format, args...))
	}
	env := map[string]string{}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			if cm, ok := byKind["ConfigMap"][e.ConfigMapRef.Name].(*corev1.ConfigMap); ok {
				maps.Copy(env, cm.Data)
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if v, err := strconv.ParseBool(env["DEMO_ACCOUNTS"]); err == nil && v {
		bad("DEMO_ACCOUNTS=true: the demo accounts' passwords are in the README")
	}
	file := env["USERS_FILE"]
	if file == "" {
		bad("the api needs USERS_FILE (the city's accounts, from a Secret): without it the demo accounts log in, with the passwords the README publishes")
		return problems
	}
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				if sec, ok := byKind["Secret"][v.Secret.SecretName].(*corev1.Secret); ok {
					key := strings.TrimPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
					if len(sec.Data[key]) == 0 && sec.StringData[key] == "" {
						bad("USERS_FILE %s: Secret %s has no key %s", file, v.Secret.SecretName, key)
					}
				}
				return problems
			}
		}
	}
	bad("USERS_FILE %s is not in a volume from a Secret (it holds the accounts' password hashes)", file)
	return problems
}

// checkRefs checks that the ConfigMaps and Secrets a pod names exist (in an overlay; the base
// leaves the secret to its overlays).
func checkRefs(what string, spec corev1.PodSpec, byKind map[string]map[string]any, overlay bool) []string {
	if !overlay {
		return nil
	}
	var problems []string
	for _, c := range spec.Containers {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil && byKind["ConfigMap"][e.ConfigMapRef.Name] == nil {
				problems = append(problems, fmt.Sprintf("%s: ConfigMap %s does not exist", what, e.ConfigMapRef.Name))
			}
			if e.SecretRef != nil {
				s, _ := byKind["Secret"][e.SecretRef.Name].(*corev1.Secret)
				if s == nil {
					problems = append(problems, fmt.Sprintf("%s: Secret %s does not exist", what, e.SecretRef.Name))
				} else {
					if len(s.Data["AUTH_SECRET"]) < 32 && len(s.StringData["AUTH_SECRET"]) < 32 {
						problems = append(problems, fmt.Sprintf("%s: Secret %s: AUTH_SECRET missing or shorter than 32 bytes", what, e.SecretRef.Name))
					}
					for _, k := range []string{"MEDIA_S3_ACCESS_KEY", "MEDIA_S3_SECRET_KEY"} {
						if len(s.Data[k]) == 0 && s.StringData[k] == "" {
							problems = append(problems, fmt.Sprintf("%s: Secret %s: %s missing (the media bucket's credentials)", what, e.SecretRef.Name, k))
						}
					}
				}
			}
		}
	}
	return problems
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
