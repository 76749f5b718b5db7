package pathgraph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestSVGInBrowser draws the SVG of a service path with one branch dropped, and of the same
// path without the fault, in a real headless chromium, and reads the screenshots: the hop
// boxes are there in their colours with their names drawn, the failure mark is where the
// failed hop is, and without the fault no pixel of the failure's colour is left.
func TestSVGInBrowser(t *testing.T) {
	browser := chromium(t)
	failing := graphOf(t, "service-branch-drop")
	healthy := graphOf(t, "service-branch-fixed")

	img := screenshot(t, browser, failing, "failing")
	lo := layOut(failing)
	if n := countNear(img, img.Bounds(), rgb("#ffffff"), 8); n > img.Bounds().Dx()*img.Bounds().Dy()*97/100 {
		t.Fatalf("the picture is blank: %d of %d pixels white", n, img.Bounds().Dx()*img.Bounds().Dy())
	}
	checkHops(t, img, failing, lo)
	failed := failing.Failed()
	if len(failed) != 1 {
		t.Fatalf("failed hops %+v, want one", failed)
	}
	box := lo.boxes[failed[0].ID]
	mark := image.Rect(int(box.x+box.w)-markR, int(box.y)-markR, int(box.x+box.w)+markR, int(box.y)+markR)
	if n := countNear(img, mark, rgb(failColour), 40); n < 150 {
		t.Errorf("the failure mark of %s at %v has %d pixels of %s, want it drawn there", failed[0].ID, mark, n, failColour)
	}
	lower := image.Rect(int(box.x), int(box.cy()), int(box.x+box.w), int(box.y+box.h))
	if n := countNear(img, lower, rgb(failColour), 60); n < 60 {
		t.Errorf("the failed hop's reason is not drawn under its name: %d red pixels in %v", n, lower)
	}
	red := countNear(img, img.Bounds(), rgb(failColour), 40)

	ok := screenshot(t, browser, healthy, "healthy")
	checkHops(t, ok, healthy, layOut(healthy))
	if n := countNear(ok, ok.Bounds(), rgb(failColour), 40); n != 0 {
		t.Errorf("the path without the fault still has %d pixels of the failure's colour (the failing one has %d)", n, red)
	}
	if red < 400 {
		t.Errorf("the failing picture has only %d pixels of the failure's colour", red)
	}
}

// checkHops finds every hop's box in its fill colour, with its name drawn in dark pixels.
func checkHops(t *testing.T, img image.Image, g *Graph, lo *layout) {
	t.Helper()
	for _, h := range g.Hops {
		r := lo.boxes[h.ID]
		in := image.Rect(int(r.x)+4, int(r.y)+4, int(r.x+r.w)-4, int(r.y+r.h)-4)
		area := in.Dx() * in.Dy()
		if n := countNear(img, in, rgb(hopFill(h)), 6); n < area/2 {
			t.Errorf("hop %s: %d of %d pixels in %v are its fill %s", h.ID, n, area, in, hopFill(h))
		}
		if n := countNear(img, in, rgb(textColour), 90); n < 30 {
			t.Errorf("hop %s: its name is not drawn (%d dark pixels in %v)", h.ID, n, in)
		}
	}
}

// chromium finds Debian's chromium. CI installs it (hack/install-deps.sh), so there its
// absence fails the test; elsewhere the test is skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; hack/install-deps.sh installs it in CI")
	}
	t.Skip("chromium is not installed (apt-get install chromium, or hack/install-deps.sh): the SVG is not checked in a browser")
	return ""
}

// screenshot renders g's SVG at its own size in headless chromium with a profile of its own,
// no way out to the network (a dead proxy, no name resolution), bounded in time, and its
// whole process group killed after.
func screenshot(t *testing.T, browser string, g *Graph, name string) image.Image {
	t.Helper()
	dir := t.TempDir()
	svg := filepath.Join(dir, name+".svg")
	var b bytes.Buffer
	if err := WriteSVG(&b, g); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(svg, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	lo := layOut(g)
	out := filepath.Join(dir, name+".png")
	logs := runChromium(t, browser, dir, "--hide-scrollbars", "--force-device-scale-factor=1",
		"--window-size="+strconv.Itoa(lo.width)+","+strconv.Itoa(lo.height), "--screenshot="+out, "file://"+svg)
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v\n%s", err, logs)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < lo.width || b.Dy() < lo.height {
		t.Fatalf("screenshot %v, smaller than the picture's %dx%d", b, lo.width, lo.height)
	}
	return img
}

// runChromium runs headless chromium with a profile of its own under dir, no way out to the
// network (a dead proxy, no name resolution), bounded in time, and its whole process group
// killed after; it returns what chromium printed.
func runChromium(t *testing.T, browser, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"--headless", "--disable-gpu", "--user-data-dir=" + filepath.Join(dir, "profile"),
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"}, args...)
	if os.Geteuid() == 0 {
		args = append([]string{"--no-sandbox"}, args...) // chromium's sandbox refuses to run as root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		// The browser's helpers share its group; none outlives the test.
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			t.Logf("kill chromium's process group: %v", kerr)
		}
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// countNear counts the pixels in r within tol of c on every channel.
func countNear(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(int(pr>>8), int(c.R), tol) && near(int(pg>>8), int(c.G), tol) && near(int(pb>>8), int(c.B), tol) {
				n++
			}
		}
	}
	return n
}

func near(a, b, tol int) bool { return a-b <= tol && b-a <= tol }

func rgb(hex string) color.RGBA {
	var c color.RGBA
	if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &c.R, &c.G, &c.B); err != nil {
		panic(fmt.Sprintf("colour %q: %v", hex, err))
	}
	c.A = 0xff
	return c
}
