package rtmp

import (
	"io"

	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
)

// newLogrusBridge returns a logrus logger for go-rtmp that prints nothing
// itself and forwards every entry to log. go-rtmp's Info lines are protocol
// chatter, so they become Debug; its warnings and errors keep their level.
// Logrus only formats messages at or above the level set here, so with
// zerolog above Debug the chatter costs nothing.
func newLogrusBridge(log zerolog.Logger) *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	l.SetLevel(logrusLevel(log))
	l.AddHook(&logrusHook{log: log.With().Str("component", "go-rtmp").Logger()})
	return l
}

// logrusLevel is Info when log passes Debug (its own level and zerolog's
// global level), else Warn.
func logrusLevel(log zerolog.Logger) logrus.Level {
	if max(log.GetLevel(), zerolog.GlobalLevel()) <= zerolog.DebugLevel {
		return logrus.InfoLevel
	}
	return logrus.WarnLevel
}

// RefreshLogLevel makes go-rtmp's chatter follow a changed
// zerolog.SetGlobalLevel (on SIGHUP).
func (s *Server) RefreshLogLevel() { s.rtmpLg.SetLevel(logrusLevel(s.log)) }

type logrusHook struct{ log zerolog.Logger }

func (h *logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

// connLogField is the logrus field that carries a connection's own
// (sampled) zerolog logger to the hook; it is not printed.
const connLogField = "headwater.conn_log"

func (h *logrusHook) Fire(e *logrus.Entry) error {
	log := &h.log
	if l, ok := e.Data[connLogField].(*zerolog.Logger); ok {
		log = l
	}
	var ev *zerolog.Event
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		ev = log.Error()
	case logrus.WarnLevel:
		ev = log.Warn()
	case logrus.InfoLevel:
		ev = log.Debug()
	default:
		ev = log.Trace()
	}
	if ev == nil {
		return nil
	}
	for k, v := range e.Data {
		if k != connLogField {
			ev = ev.Interface(k, v)
		}
	}
	ev.Msg(e.Message)
	return nil
}
