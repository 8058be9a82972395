package validate

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// reporter is what the checks need of a *testing.T; the mutation test
// gives them one that records.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Error(args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
	Logf(format string, args ...any)
	TempDir() string
}

const (
	k8sDir      = "../k8s"
	replicasDir = "../k8s/replicas"
	repoRoot    = "../.."
)

// Every manifest decodes strictly into its Kubernetes API type, and the
// strict decoding does refuse an unknown field (so the checks below are
// not vacuous).
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, dir := range []string{k8sDir, replicasDir} {
		s, err := Load(dir)
		if err != nil {
			t.Fatalf("%s:\n%v", dir, err)
		}
		if len(s.Objects) < 6 {
			t.Errorf("%s: only %d objects", dir, len(s.Objects))
		}
		for _, o := range s.Objects {
			for _, e := range validation.IsDNS1123Subdomain(o.Name) {
				t.Errorf("%s: %s name %q: %s", o.File, o.Kind, o.Name, e)
			}
			if m, ok := o.Obj.(metav1.Object); ok {
				for _, e := range metavalidation.ValidateLabels(m.GetLabels(), field.NewPath("metadata", "labels")) {
					t.Errorf("%s: %v", o.File, e)
				}
			}
		}
	}
	for _, bad := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 3\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 80, targetPort: http, protocoll: TCP}]\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  endpoint: []\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: three\n",
	} {
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("decoded without error:\n%s", bad)
		}
	}
}

// checkGateway checks what both layouts must get right and returns the
// gateway's Deployment and container.
func checkGateway(t reporter, s *Set) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	deps := Of[*appsv1.Deployment](s)
	if len(deps) != 1 {
		t.Fatalf("%s: %d Deployments, want 1", s.Dir, len(deps))
	}
	d := deps[0]
	pod := labels.Set(d.Spec.Template.Labels)
	sel := selector(t, d.Spec.Selector)
	if !sel.Matches(pod) {
		t.Errorf("Deployment %s: its selector does not match its pod template's labels", d.Name)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment %s: %d containers, want the gateway alone", d.Name, len(d.Spec.Template.Spec.Containers))
	}
	c := &d.Spec.Template.Spec.Containers[0]
	ps := d.Spec.Template.Spec
	checkPodSecurity(t, "Deployment "+d.Name, ps, c)
	if ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.RunAsUser != 65532 {
		t.Errorf("Deployment %s: runAsUser is not 65532, the image's nonroot user", d.Name)
	}
	checkResources(t, "Deployment "+d.Name, c)
	if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
		t.Errorf("image %q: pin a tag", c.Image)
	}

	// Probes: /healthz alive, /readyz ready, on the container's http port.
	http := containerPort(t, c, "http")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET of %s", p.name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path %q, want %s", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := resolvePort(t, c, p.probe.HTTPGet.Port); got != http {
			t.Errorf("%s probe port %v is %d, want the http port %d", p.name, p.probe.HTTPGet.Port.String(), got, http)
		}
	}

	// Volumes: every mount has a volume; config from the ConfigMap.
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("mount %s: no such volume", m.Name)
			continue
		}
		if v.ConfigMap != nil && configMap(s, v.ConfigMap.Name) == nil {
			t.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
		}
		if v.PersistentVolumeClaim != nil && find[*corev1.PersistentVolumeClaim](s, v.PersistentVolumeClaim.ClaimName) == nil {
			t.Errorf("volume %s: no PersistentVolumeClaim %s", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}

	// The Service selects the pods, on ports the container has.
	svc := find[*corev1.Service](s, "gateway")
	if svc == nil {
		t.Fatal("no Service gateway")
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(pod) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s does not select the gateway's pods", svc.Name)
	}
	for _, p := range svc.Spec.Ports {
		resolvePort(t, c, p.TargetPort)
	}

	// Scraping: annotations and the ServiceMonitor point at the metrics port.
	metrics := containerPort(t, c, "metrics")
	a := d.Spec.Template.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(int(metrics)) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v: want prometheus.io/scrape true, port %d, path /metrics", a, metrics)
	}
	sms := Of[*ServiceMonitor](s)
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(sms))
	}
	sm := sms[0]
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %q", sm.APIVersion)
	}
	if !selector(t, &sm.Spec.Selector).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor %s does not select Service %s", sm.Name, svc.Name)
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Error("ServiceMonitor has no endpoints")
	}
	for _, e := range sm.Spec.Endpoints {
		var sp *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Name == e.Port {
				sp = &svc.Spec.Ports[i]
			}
		}
		if sp == nil {
			t.Errorf("ServiceMonitor endpoint port %q: no such port of Service %s", e.Port, svc.Name)
		} else if resolvePort(t, c, sp.TargetPort) != metrics {
			t.Errorf("ServiceMonitor endpoint port %q does not reach the metrics port", e.Port)
		}
		if e.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint path %q", e.Path)
		}
	}

	// The gateway accepts the configuration: ConfigMap + environment.
	checkGatewayConfig(t, s, d, c)
	return d, c
}

// The single-replica layout.
func TestSingleReplica(t *testing.T) {
	s, err := Load(k8sDir)
	if err != nil {
		t.Fatal(err)
	}
	checkSingle(t, s)
}

// checkSingle checks the single-replica layout.
func checkSingle(t reporter, s *Set) {
	t.Helper()
	d, _ := checkGateway(t, s)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1 (the file token store is one pod's)", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q: a ReadWriteOnce volume needs Recreate", d.Spec.Strategy.Type)
	}
}

// The three-replica layout of issue 13: Redis with AOF on a volume, the
// gateway pointed at it, a PodDisruptionBudget and spreading.
func TestThreeReplicasWithRedis(t *testing.T) {
	s, err := Load(replicasDir)
	if err != nil {
		t.Fatal(err)
	}
	checkReplicas(t, s)
}

// checkReplicas checks the three-replica layout.
func checkReplicas(t reporter, s *Set) {
	t.Helper()
	d, c := checkGateway(t, s)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Fatalf("replicas %v, want 3", d.Spec.Replicas)
	}
	pod := labels.Set(d.Spec.Template.Labels)
	env := resolveEnv(t, s, c)
	if env["GATEWAY_REPLICAS"] != "3" {
		t.Errorf("GATEWAY_REPLICAS = %q, want 3 (the degraded budget share)", env["GATEWAY_REPLICAS"])
	}

	// Redis: a StatefulSet with AOF on, its --dir on a claimed volume.
	sts := Of[*appsv1.StatefulSet](s)
	if len(sts) != 1 {
		t.Fatalf("%d StatefulSets, want Redis's", len(sts))
	}
	r := sts[0]
	rpod := labels.Set(r.Spec.Template.Labels)
	if !selector(t, r.Spec.Selector).Matches(rpod) {
		t.Error("Redis StatefulSet: selector does not match its pods")
	}
	if sel := selector(t, d.Spec.Selector); sel.Matches(rpod) {
		t.Error("the gateway's selector also matches Redis's pods")
	}
	rc := &r.Spec.Template.Spec.Containers[0]
	checkPodSecurity(t, "StatefulSet "+r.Name, r.Spec.Template.Spec, rc)
	checkResources(t, "StatefulSet "+r.Name, rc)
	args := map[string]string{}
	for i := 0; i+1 < len(rc.Args); i++ {
		if strings.HasPrefix(rc.Args[i], "--") {
			args[rc.Args[i]] = rc.Args[i+1]
		}
	}
	if args["--appendonly"] != "yes" {
		t.Errorf("Redis args %v: want --appendonly yes (tokens must not be lost)", rc.Args)
	}
	if f := args["--appendfsync"]; f != "always" && f != "everysec" {
		t.Errorf("--appendfsync %q", f)
	}
	if p := args["--maxmemory-policy"]; p != "volatile-lru" && p != "noeviction" && p != "volatile-ttl" {
		t.Errorf("--maxmemory-policy %q could evict tokens (they have no TTL)", p)
	}
	dir := args["--dir"]
	onClaim := false
	for _, m := range rc.VolumeMounts {
		for _, vct := range r.Spec.VolumeClaimTemplates {
			if m.Name == vct.Name && m.MountPath == dir {
				onClaim = true
			}
		}
	}
	if dir == "" || !onClaim {
		t.Errorf("Redis --dir %q is not on a volumeClaimTemplate's mount", dir)
	}
	headless := find[*corev1.Service](s, r.Spec.ServiceName)
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("StatefulSet serviceName %q: want a headless Service", r.Spec.ServiceName)
	}
	redisPort := containerPort(t, rc, "redis")

	// GATEWAY_REDIS_URL reaches that Redis through a Service.
	u, err := url.Parse(env["GATEWAY_REDIS_URL"])
	if err != nil || u.Scheme != "redis" && u.Scheme != "rediss" {
		t.Fatalf("GATEWAY_REDIS_URL %q: want a redis:// URL", env["GATEWAY_REDIS_URL"])
	}
	host, port, _ := net.SplitHostPort(u.Host)
	rsvc := find[*corev1.Service](s, strings.Split(host, ".")[0])
	if rsvc == nil || !labels.SelectorFromSet(rsvc.Spec.Selector).Matches(rpod) {
		t.Fatalf("GATEWAY_REDIS_URL host %q: no Service selecting Redis's pods", host)
	}
	reached := false
	for _, p := range rsvc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == port && resolvePort(t, rc, p.TargetPort) == redisPort {
			reached = true
		}
	}
	if !reached {
		t.Errorf("GATEWAY_REDIS_URL port %s does not reach Redis's port %d", port, redisPort)
	}
	if pw, _ := u.User.Password(); pw == "" {
		t.Error("GATEWAY_REDIS_URL has no password")
	} else if pw != redisPassword(t, s, rc) {
		t.Error("GATEWAY_REDIS_URL's password is not the one Redis requires")
	}

	// Two of three stay up; replicas spread over nodes.
	pdbs := Of[*policyv1.PodDisruptionBudget](s)
	if len(pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(pdbs))
	}
	pdb := pdbs[0]
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("PDB minAvailable %v, want 2", pdb.Spec.MinAvailable)
	}
	if !selector(t, pdb.Spec.Selector).Matches(pod) || selector(t, pdb.Spec.Selector).Matches(rpod) {
		t.Error("the PDB does not select exactly the gateway's pods")
	}
	spread := false
	for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && selector(t, tsc.LabelSelector).Matches(pod) {
			spread = true
		}
	}
	if aff := d.Spec.Template.Spec.Affinity; aff != nil && aff.PodAntiAffinity != nil {
		for _, w := range aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if selector(t, w.PodAffinityTerm.LabelSelector).Matches(pod) {
				spread = true
			}
		}
	}
	if !spread {
		t.Error("no topology spread or anti-affinity over nodes selecting the gateway's pods")
	}

	// Only the gateway reaches Redis.
	for _, np := range Of[*networkingv1.NetworkPolicy](s) {
		if !selector(t, &np.Spec.PodSelector).Matches(rpod) {
			t.Errorf("NetworkPolicy %s does not protect Redis", np.Name)
			continue
		}
		for _, in := range np.Spec.Ingress {
			for _, from := range in.From {
				if from.PodSelector == nil || !selector(t, from.PodSelector).Matches(pod) {
					t.Errorf("NetworkPolicy %s admits other pods than the gateway's", np.Name)
				}
			}
		}
	}
}

// checkPodSecurity checks that a pod runs non-root, read-only, without
// privileges.
func checkPodSecurity(t reporter, what string, ps corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	sc, csc := ps.SecurityContext, c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot is not true", what)
	}
	if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s: runAsUser 0", what)
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", what)
	}
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", what)
	}
	if csc == nil || csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" || len(csc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", what)
	}
}

// checkResources checks requests and limits of CPU and memory, requests
// at most the limits.
func checkResources(t reporter, what string, c *corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim {
			t.Errorf("%s: %s request and limit must both be set", what, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s over its limit %s", what, r, req.String(), lim.String())
		}
	}
}

// containerPort returns the number of c's port of that name.
func containerPort(t reporter, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
			t.Errorf("port name %q: %v", p.Name, errs)
		}
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, name)
	return 0
}

// resolvePort returns the container port a name or number refers to.
func resolvePort(t reporter, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		for _, cp := range c.Ports {
			if cp.ContainerPort == p.IntVal {
				return cp.ContainerPort
			}
		}
		t.Errorf("port %d: not a port of container %s", p.IntVal, c.Name)
		return 0
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Errorf("port %q: no port of container %s has that name", p.StrVal, c.Name)
	return 0
}

// selector converts a label selector, failing the test on a bad one.
func selector(t reporter, ls *metav1.LabelSelector) labels.Selector {
	t.Helper()
	if ls == nil {
		t.Fatal("no label selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Empty() {
		t.Fatal("an empty selector selects everything")
	}
	return sel
}

// find returns the object of a type and name.
func find[T interface {
	comparable
	GetName() string
}](s *Set, name string) T {
	var zero T
	for _, o := range Of[T](s) {
		if o.GetName() == name {
			return o
		}
	}
	return zero
}

func configMap(s *Set, name string) *corev1.ConfigMap { return find[*corev1.ConfigMap](s, name) }

// secretValue returns a Secret's key, from stringData or data.
func secretValue(t reporter, s *Set, name, key string) string {
	t.Helper()
	sec := find[*corev1.Secret](s, name)
	if sec == nil {
		t.Fatalf("no Secret %s", name)
	}
	if v, ok := sec.StringData[key]; ok {
		return v
	}
	if v, ok := sec.Data[key]; ok {
		return string(v)
	}
	t.Fatalf("Secret %s has no key %s", name, key)
	return ""
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// resolveEnv returns c's environment as the kubelet sets it: values,
// Secret and ConfigMap references, $(VAR) of earlier variables. Resource
// fields (GOMEMLIMIT, GOMAXPROCS) are left out. The Secret examples'
// CHANGE-ME placeholders stay as they are.
func resolveEnv(t reporter, s *Set, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
			t.Errorf("env %s: %v", e.Name, errs)
		}
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envRef.ReplaceAllStringFunc(e.Value, func(m string) string {
				name := envRef.FindStringSubmatch(m)[1]
				v, ok := env[name]
				if !ok {
					t.Errorf("env %s refers to $(%s), not defined before it", e.Name, name)
				}
				return v
			})
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = secretValue(t, s, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			cm := configMap(s, e.ValueFrom.ConfigMapKeyRef.Name)
			if cm == nil {
				t.Fatalf("env %s: no ConfigMap %s", e.Name, e.ValueFrom.ConfigMapKeyRef.Name)
			}
			env[e.Name] = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
		case e.ValueFrom.ResourceFieldRef != nil:
			if e.ValueFrom.ResourceFieldRef.ContainerName != "" && e.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
				t.Errorf("env %s: resource of another container", e.Name)
			}
		}
	}
	return env
}

// redisPassword is the password Redis's --requirepass resolves to.
func redisPassword(t reporter, s *Set, rc *corev1.Container) string {
	t.Helper()
	env := resolveEnv(t, s, rc)
	for i, a := range rc.Args {
		if a == "--requirepass" && i+1 < len(rc.Args) {
			return envRef.ReplaceAllStringFunc(rc.Args[i+1], func(m string) string { return env[envRef.FindStringSubmatch(m)[1]] })
		}
	}
	t.Fatal("Redis runs without --requirepass")
	return ""
}

var (
	gatewayOnce sync.Once
	gatewayBin  string
	gatewayErr  error
)

// gatewayBinary builds the gateway of this repository once.
func gatewayBinary(t reporter) string {
	t.Helper()
	gatewayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "validate-gateway")
		if err != nil {
			gatewayErr = err
			return
		}
		gatewayBin = filepath.Join(dir, "gateway")
		cmd := exec.Command("go", "build", "-o", gatewayBin, "./cmd/gateway")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			gatewayErr = err
			t.Logf("%s", out)
		}
	})
	if gatewayErr != nil {
		t.Fatalf("building the gateway: %v", gatewayErr)
	}
	return gatewayBin
}

// printedKey is a key line of gateway config print, set or commented out.
var printedKey = regexp.MustCompile(`(?m)^(# )?([a-z0-9][a-z0-9-]*): (.*?)(   .*)?$`)

// checkGatewayConfig runs the gateway's own configuration loader on what
// the pod gets: the ConfigMap's gateway.yaml as -config (GATEWAY_CONFIG
// must be where the ConfigMap is mounted) and the container's environment,
// with the Secret example's CHANGE-ME keys replaced by valid random ones.
// The loader refuses unknown keys, wrong types and bad values; its printed
// configuration then gives the listen address, which must be the
// container's http port.
func checkGatewayConfig(t reporter, s *Set, d *appsv1.Deployment, c *corev1.Container) {
	t.Helper()
	env := resolveEnv(t, s, c)
	cfgPath := env["GATEWAY_CONFIG"]
	if cfgPath == "" {
		t.Fatal("GATEWAY_CONFIG is not set: the ConfigMap's gateway.yaml would not be read")
	}
	var text string
	found := false
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil || !strings.HasPrefix(cfgPath, m.MountPath+"/") {
				continue
			}
			cm := configMap(s, v.ConfigMap.Name)
			key := strings.TrimPrefix(cfgPath, m.MountPath+"/")
			if cm != nil {
				text, found = cm.Data[key]
			}
		}
	}
	if !found {
		t.Fatalf("GATEWAY_CONFIG %s is no key of a mounted ConfigMap", cfgPath)
	}
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env["GATEWAY_CONFIG"] = file
	var environ []string
	for k, v := range env {
		if strings.HasPrefix(v, "CHANGE-ME") && strings.HasSuffix(k, "_KEY") {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			v = hex.EncodeToString(b)
		}
		environ = append(environ, k+"="+v)
	}
	cmd := exec.Command(gatewayBinary(t), "config", "print")
	cmd.Env = environ
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("the gateway refuses the configuration of %s (ConfigMap + environment): %v\n%s", s.Dir, err, msg)
	}
	flags, set := map[string]bool{}, map[string]string{}
	for _, m := range printedKey.FindAllStringSubmatch(string(out), -1) {
		flags[m[2]] = true
		if m[1] == "" {
			set[m[2]], _ = strconv.Unquote(m[3])
			if set[m[2]] == "" {
				set[m[2]] = m[3]
			}
		}
	}
	if len(flags) < 50 {
		t.Fatalf("config print named only %d settings:\n%s", len(flags), out)
	}
	// Every GATEWAY_ variable is a setting (a typo would be ignored).
	for k := range env {
		name, ok := strings.CutPrefix(k, "GATEWAY_")
		if !ok {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if flags[flag] || flag == "config" { // -config is no key of the file it names
			continue
		}
		t.Errorf("%s names no gateway setting", k)
	}
	_, port, err := net.SplitHostPort(set["addr"])
	if err != nil || port != strconv.Itoa(int(containerPort(t, c, "http"))) {
		t.Errorf("the gateway listens on %q, not on the http container port", set["addr"])
	}
	if host, _, _ := net.SplitHostPort(set["addr"]); host == "127.0.0.1" || host == "localhost" {
		t.Errorf("addr %q is loopback: unreachable from the kubelet and the Service", set["addr"])
	}
}
