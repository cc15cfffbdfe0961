package hwbench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-rtmp's client logs a chunk size change through logrus's global logger.
	logrus.SetOutput(io.Discard)
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	binDir   string
	binPath  string
	binErr   error
	buildBin sync.Once
)

// headwaterBin builds cmd/headwater once per test run.
func headwaterBin(t testing.TB) string {
	t.Helper()
	buildBin.Do(func() {
		binDir, binErr = os.MkdirTemp("", "hwbench-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "headwater")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/headwater-media/headwater/cmd/headwater").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
