package benchread

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestStats(t *testing.T) {
	lat := make([]int64, 100)
	for i := range lat {
		lat[i] = int64(100 - i) // unsorted on purpose
	}
	assert.Equal(t, Stats{Median: 51, P90: 91, P99: 100, Mean: 50}, stats(lat))
	assert.Equal(t, Stats{}, stats(nil))
}

func TestMainRoundTrip(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(f, []byte("hello\n"), 0644))
	for _, path := range []string{f, "statfs:" + filepath.Dir(f)} {
		var out, errw bytes.Buffer
		require.Equal(t, 0, Main([]string{path, "50"}, &out, &errw), errw.String())
		st, err := Parse(out.String())
		require.NoError(t, err)
		assert.Positive(t, st.Median)
		assert.LessOrEqual(t, st.Median, st.P90)
		assert.LessOrEqual(t, st.P90, st.P99)
	}
	var out, errw bytes.Buffer
	assert.Equal(t, 1, Main([]string{filepath.Join(t.TempDir(), "missing"), "1"}, &out, &errw))
	assert.Contains(t, errw.String(), unix.ENOENT.Error())
	assert.Equal(t, 2, Main([]string{f}, &out, &errw))
	_, err := Parse("1 2 x 4")
	assert.Error(t, err)
}
