// Command k8s_yaml_oracle prints what Kubernetes makes of YAML: the source of truth for
// tests/sources/yaml_corpus (see the README there).
//
// Kubernetes clients and the API server read a YAML manifest in two steps: the stream is cut into
// documents at `---` lines (k8s.io/apimachinery/pkg/util/yaml YAMLReader), and each document is turned
// into JSON by sigs.k8s.io/yaml.YAMLToJSON (go-yaml v2 Unmarshal into interface{}, non-string keys
// made strings, json.Marshal). JSON is what is stored. This program runs the real YAMLToJSON on every
// case of the corpus; only the line splitter is written here, from apimachinery's YAMLReader (a
// dependency on apimachinery would pull in most of Kubernetes for twenty lines).
//
// Usage: k8s_yaml_oracle CORPUS_DIR SOURCE_LABEL > CORPUS_DIR/expected.json
// It reads CORPUS_DIR/cases.json (a JSON object: case name -> YAML text) and every file under
// CORPUS_DIR/files, and prints {"source": SOURCE_LABEL, "cases": {case name -> outcome}}: the list of
// documents kubectl reads and the result for the whole text, each {"json": the JSON text YAMLToJSON
// produced} or {"error": its error}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// splitDocuments cuts a YAML stream the way apimachinery's YAMLReader does: a line whose first three
// bytes are "---" ends the current document when the rest of the line is blank or a comment (anything
// else there is an error); lines are read with bufio.Reader.ReadLine, so "\r\n" becomes "\n";
// empty documents are not returned.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := bufio.NewReader(bytes.NewReader(data))
	var docs [][]byte
	var buffer bytes.Buffer
	for {
		line, err := readLine(reader)
		if err != nil && err != io.EOF {
			return docs, err
		}
		if bytes.HasPrefix(line, []byte("---")) {
			trimmed := strings.TrimSpace(string(line[3:]))
			if len(trimmed) > 0 && trimmed[0] != '#' {
				return docs, fmt.Errorf("invalid Yaml document separator: %s", trimmed)
			}
			if buffer.Len() != 0 {
				docs = append(docs, append([]byte(nil), buffer.Bytes()...))
				buffer.Reset()
			}
			if err == io.EOF {
				return docs, nil
			}
			continue
		}
		if err == io.EOF {
			if buffer.Len() != 0 {
				docs = append(docs, append([]byte(nil), buffer.Bytes()...))
			}
			return docs, nil
		}
		buffer.Write(line)
	}
}

// readLine is apimachinery's LineReader.Read: one line without its end-of-line bytes, plus "\n".
func readLine(r *bufio.Reader) ([]byte, error) {
	var (
		isPrefix = true
		err      error
		line     []byte
		buffer   bytes.Buffer
	)
	for isPrefix && err == nil {
		line, isPrefix, err = r.ReadLine()
		buffer.Write(line)
	}
	buffer.WriteByte('\n')
	return buffer.Bytes(), err
}

type result struct {
	JSON  *string `json:"json,omitempty"`
	Error *string `json:"error,omitempty"`
}

// outcome is one case: the documents kubectl reads (split at "---" lines, each through YAMLToJSON), and
// what YAMLToJSON makes of the whole text at once, as the API server does with a request body.
type outcome struct {
	Documents []result `json:"documents"`
	Whole     result   `json:"whole"`
}

func convert(data []byte) result {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		msg := err.Error()
		return result{Error: &msg}
	}
	text := string(j)
	return result{JSON: &text}
}

func decode(data []byte) []result {
	docs, splitErr := splitDocuments(data)
	out := []result{}
	for _, doc := range docs {
		out = append(out, convert(doc))
	}
	if splitErr != nil {
		msg := splitErr.Error()
		out = append(out, result{Error: &msg})
	}
	return out
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: k8s_yaml_oracle CORPUS_DIR SOURCE_LABEL")
		os.Exit(2)
	}
	root := os.Args[1]
	cases := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(root, "cases.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	results := map[string]outcome{}
	for name, text := range cases {
		results[name] = outcome{decode([]byte(text)), convert([]byte(text))}
	}
	files, _ := filepath.Glob(filepath.Join(root, "files", "*"))
	sort.Strings(files)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		results["files/"+filepath.Base(path)] = outcome{decode(data), convert(data)}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	out := struct {
		Source string              `json:"source"`
		Cases  map[string]outcome `json:"cases"`
	}{os.Args[2], results}
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
