package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// relayMetric reads one unlabelled metric from the relay's /metrics.
func (s *stack) relayMetric(name string) (float64, error) {
	return scrapeMetric(s.url+"/metrics", name)
}

func scrapeMetric(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
