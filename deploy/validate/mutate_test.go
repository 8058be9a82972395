package validate

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// recorder is a reporter that records problems instead of failing.
type recorder struct {
	t        *testing.T
	mu       sync.Mutex
	problems []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Logf(string, ...any)               {}
func (r *recorder) TempDir() string                   { return r.t.TempDir() }

// run runs check on s with a recorder and returns its problems.
func (r *recorder) run(check func(reporter, *Set), s *Set) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r, s)
	}()
	<-done
	return r.problems
}

func gatewayContainer(s *Set) *corev1.Container {
	return &Of[*appsv1.Deployment](s)[0].Spec.Template.Spec.Containers[0]
}

func redisContainer(s *Set) *corev1.Container {
	return &Of[*appsv1.StatefulSet](s)[0].Spec.Template.Spec.Containers[0]
}

func setArg(c *corev1.Container, name, value string) {
	for i := range c.Args {
		if c.Args[i] == name {
			c.Args[i+1] = value
		}
	}
}

func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// Each check catches the mistake it is there for: the manifests, with one
// thing broken, fail with a problem that names it (and unbroken, pass).
func TestChecksCatchMistakes(t *testing.T) {
	f := false
	for _, tc := range []struct {
		name   string
		dir    string
		mutate func(s *Set)
		want   string // in one of the problems
	}{
		{"as they are", k8sDir, func(*Set) {}, ""},
		{"as they are", replicasDir, func(*Set) {}, ""},
		{"readiness path", k8sDir, func(s *Set) { gatewayContainer(s).ReadinessProbe.HTTPGet.Path = "/ready" }, "readiness probe path"},
		{"liveness port", k8sDir, func(s *Set) { gatewayContainer(s).LivenessProbe.HTTPGet.Port = intstr.FromString("metrics") }, "liveness probe port"},
		{"probe port no port", k8sDir, func(s *Set) { gatewayContainer(s).LivenessProbe.HTTPGet.Port = intstr.FromInt32(1234) }, "port 1234"},
		{"root", k8sDir, func(s *Set) { Of[*appsv1.Deployment](s)[0].Spec.Template.Spec.SecurityContext.RunAsNonRoot = &f }, "runAsNonRoot"},
		{"writable root", k8sDir, func(s *Set) { gatewayContainer(s).SecurityContext.ReadOnlyRootFilesystem = &f }, "readOnlyRootFilesystem"},
		{"capabilities", k8sDir, func(s *Set) { gatewayContainer(s).SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"} }, "drop ALL"},
		{"no memory limit", k8sDir, func(s *Set) { delete(gatewayContainer(s).Resources.Limits, corev1.ResourceMemory) }, "memory request and limit"},
		{"Service selector", k8sDir, func(s *Set) {
			find[*corev1.Service](s, "gateway").Spec.Selector = map[string]string{"app": "other"}
		}, "does not select the gateway's pods"},
		{"ServiceMonitor port", k8sDir, func(s *Set) { Of[*ServiceMonitor](s)[0].Spec.Endpoints[0].Port = "web" }, `endpoint port "web"`},
		{"scrape annotation", k8sDir, func(s *Set) {
			Of[*appsv1.Deployment](s)[0].Spec.Template.Annotations["prometheus.io/port"] = "8080"
		}, "pod annotations"},
		{"unknown config key", k8sDir, func(s *Set) {
			configMap(s, "gateway-config").Data["gateway.yaml"] += "rate-maxx: 5\n"
		}, "refuses the configuration"},
		{"bad config value", k8sDir, func(s *Set) {
			configMap(s, "gateway-config").Data["gateway.yaml"] += "rate-max: many\n"
		}, "refuses the configuration"},
		{"listen port", k8sDir, func(s *Set) {
			cm := configMap(s, "gateway-config")
			cm.Data["gateway.yaml"] = strings.Replace(cm.Data["gateway.yaml"], `addr: ":8080"`, `addr: ":9999"`, 1)
		}, "not on the http container port"},
		{"variable typo", k8sDir, func(s *Set) { setEnv(gatewayContainer(s), "GATEWAY_RATE_MAXX", "5") }, "GATEWAY_RATE_MAXX names no gateway setting"},
		{"config not mounted", k8sDir, func(s *Set) { setEnv(gatewayContainer(s), "GATEWAY_CONFIG", "/config/gateway.yaml") }, "no key of a mounted ConfigMap"},
		{"two replicas on one volume", k8sDir, func(s *Set) {
			Of[*appsv1.Deployment](s)[0].Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		}, "Recreate"},
		{"two replicas", replicasDir, func(s *Set) { two := int32(2); Of[*appsv1.Deployment](s)[0].Spec.Replicas = &two }, "want 3"},
		{"no AOF", replicasDir, func(s *Set) { setArg(redisContainer(s), "--appendonly", "no") }, "--appendonly yes"},
		{"AOF off the volume", replicasDir, func(s *Set) { setArg(redisContainer(s), "--dir", "/tmp") }, "volumeClaimTemplate"},
		{"evicts tokens", replicasDir, func(s *Set) { setArg(redisContainer(s), "--maxmemory-policy", "allkeys-lru") }, "could evict tokens"},
		{"Redis URL host", replicasDir, func(s *Set) {
			setEnv(gatewayContainer(s), "GATEWAY_REDIS_URL", "redis://:x@redis:6379/0")
		}, "no Service selecting Redis's pods"},
		{"Redis URL password", replicasDir, func(s *Set) {
			setEnv(gatewayContainer(s), "GATEWAY_REDIS_URL", "redis://:wrong@gateway-redis:6379/0")
		}, "not the one Redis requires"},
		{"PDB", replicasDir, func(s *Set) {
			one := intstr.FromInt32(1)
			Of[*policyv1.PodDisruptionBudget](s)[0].Spec.MinAvailable = &one
		}, "minAvailable"},
		{"PDB selects Redis too", replicasDir, func(s *Set) {
			delete(Of[*policyv1.PodDisruptionBudget](s)[0].Spec.Selector.MatchLabels, "app.kubernetes.io/component")
		}, "exactly the gateway's pods"},
		{"no spreading", replicasDir, func(s *Set) {
			ps := &Of[*appsv1.Deployment](s)[0].Spec.Template.Spec
			ps.TopologySpreadConstraints, ps.Affinity = nil, nil
		}, "no topology spread"},
		{"Redis open to all", replicasDir, func(s *Set) {
			Of[*networkingv1.NetworkPolicy](s)[0].Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/component"] = "other"
		}, "admits other pods"},
	} {
		t.Run(tc.dir+": "+tc.name, func(t *testing.T) {
			s, err := Load(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(s)
			check := checkSingle
			if tc.dir == replicasDir {
				check = checkReplicas
			}
			r := &recorder{t: t}
			problems := r.run(check, s)
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("unbroken manifests fail: %v", problems)
				}
				return
			}
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem names %q; problems: %q", tc.want, problems)
		})
	}
}
