package rarityfile

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/nftsync/nftsync/internal/rarity"
)

const usage = `usage: nftsync rarity --input FILE.jsonl[.gz] [--method openrarity|rarity_tools|statistical] [--output csv|json] [--trait-count] [--score-numeric] [--all-values]

Scores and ranks every token of a collection file and writes the result to
standard output. Nothing is written unless the whole file parses and scores.

`

// Run implements "nftsync rarity": it parses args (without the command
// name), reads the input file, computes the scores and writes them to
// stdout as CSV or JSON. The output is rendered in memory first, so on any
// error (bad flag, bad input line, refused collection) nothing at all is
// written to stdout. "-h" writes the usage to stdout and returns nil.
func Run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rarity", flag.ContinueOnError)
	var flagOut bytes.Buffer
	fs.SetOutput(&flagOut)
	input := fs.String("input", "", "collection file, JSON Lines, gzip when named .gz or compressed")
	method := fs.String("method", string(rarity.OpenRarity), "scoring method: openrarity, rarity_tools or statistical")
	output := fs.String("output", "csv", "output format: csv or json")
	traitCount := fs.Bool("trait-count", false, "rarity_tools only: add the trait count as a trait")
	scoreNumeric := fs.Bool("score-numeric", false, "score numeric, boolean and date traits as strings instead of excluding them")
	allValues := fs.Bool("all-values", false, "keep every value of a trait name repeated on a token (after normalisation); OpenRarity keeps the last")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, werr := stdout.Write(flagOut.Bytes())
			return werr
		}
		return fmt.Errorf("rarity: %w\n%s", err, flagOut.String())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("rarity: unexpected argument %q", fs.Arg(0))
	}
	if *input == "" {
		return errors.New("rarity: --input is required")
	}
	m, err := rarity.ParseMethod(*method)
	if err != nil {
		return fmt.Errorf("rarity: %w", err)
	}
	var write func(io.Writer, *rarity.Result) error
	switch *output {
	case "csv":
		write = WriteCSV
	case "json":
		write = WriteJSON
	default:
		return fmt.Errorf("rarity: unknown output format %q (want csv or json)", *output)
	}
	b, err := rarity.NewBuilder(rarity.Options{Method: m, TraitCount: *traitCount, ScoreNumeric: *scoreNumeric, AllValues: *allValues})
	if err != nil {
		return fmt.Errorf("rarity: %w", err)
	}
	lines, err := ReadInto(*input, b)
	if err != nil {
		return fmt.Errorf("rarity: %w", err)
	}
	res, err := b.Compute()
	if err != nil {
		return fmt.Errorf("rarity: %s: %w", *input, LineError(err, lines))
	}
	var buf bytes.Buffer
	buf.Grow(32 * (len(res.Tokens) + 1))
	if err := write(&buf, res); err != nil {
		return fmt.Errorf("rarity: %w", err)
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("rarity: write output: %w", err)
	}
	return nil
}
