package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
)

// spanCondition is a compiled OTTL condition in the span context.
type spanCondition = ottl.Condition[*ottlspan.TransformContext]

// parseSpanCondition compiles an SLO's `condition` with the standard OTTL converters.
func parseSpanCondition(condition string, set component.TelemetrySettings) (*spanCondition, error) {
	if set.Logger == nil {
		set = component.TelemetrySettings{Logger: nopLogger()}
	}
	parser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set)
	if err != nil {
		return nil, fmt.Errorf("build OTTL span parser: %w", err)
	}
	c, err := parser.ParseCondition(condition)
	if err != nil {
		return nil, fmt.Errorf("parse OTTL condition: %w", err)
	}
	return c, nil
}
