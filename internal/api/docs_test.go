package api

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/headwater-media/headwater/internal/relay"
)

// TestOpenAPIDescribesEveryRoute keeps docs/openapi.yaml and the router in
// step: every /api/v1 route is described, nothing else is.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	require.NoError(t, err)
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Servers []struct{ URL string }    `yaml:"servers"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.0"))
	require.True(t, strings.HasSuffix(doc.Servers[0].URL, "/api/v1"))
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" /api/v1"+path)
			}
		}
	}

	r := chi.NewRouter()
	(&API{Events: &Events{}, Pushes: (*relay.Manager)(nil)}).Routes(r)
	var routed []string
	require.NoError(t, chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/v1/") {
			routed = append(routed, method+" "+route)
		}
		return nil
	}))
	sort.Strings(documented)
	sort.Strings(routed)
	require.Equal(t, routed, documented)
}

// TestGrafanaDashboardUsesExportedMetrics checks that every headwater
// metric docs/grafana-dashboard.json queries is one the server exports.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.NotEmpty(t, dash.Title)

	f := newFixture(t, "")
	f.players[0].FirstFrame()
	f.pubs[0].Release() // one publish duration observed
	exported := map[string]bool{LimitRefusalsMetric: true}
	for name, mf := range gather(t, f) {
		exported[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	names := regexp.MustCompile(`headwater_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range names.FindAllString(tg.Expr, -1) {
				require.True(t, exported[n], "panel %q queries %s, which is not exported", p.Title, n)
				used[n] = true
			}
		}
	}
	for _, want := range []string{StreamPlayersMetric, StreamBitrateMetric, StreamBytesOutMetric, StreamDroppedMetric,
		TTFFMetric + "_bucket", PublishDurationMetric + "_bucket", LimitRefusalsMetric, "headwater_streams", "headwater_players"} {
		require.True(t, used[want], "the dashboard shows %s", want)
	}
}
