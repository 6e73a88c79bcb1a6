using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using PcieEmu.Harness.Logging;

namespace PcieEmu.Cli;

/// <summary>Console logging for every verb: level from --log-level or PCIEEMU_LOG_LEVEL, to stderr.</summary>
internal static class CliLogging
{
    public static Option<LogLevel?> LevelOption { get; } = new("--log-level")
    {
        Description = "Minimum log level (Trace, Debug, Information, Warning, Error). Default: Information, or $PCIEEMU_LOG_LEVEL.",
        Recursive = true,
    };

    /// <summary>--log-level, else $PCIEEMU_LOG_LEVEL, else <paramref name="fallback"/>.</summary>
    public static LogLevel Level(ParseResult parse, LogLevel fallback = LogLevel.Information) =>
        parse.GetValue(LevelOption)
        ?? (Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("PCIEEMU_LOG_LEVEL"), ignoreCase: true, out var env) ? env : fallback);

    public static ILoggerFactory Create(ParseResult parse, LogLevel fallback = LogLevel.Information, string? file = null)
    {
        var level = Level(parse, fallback);
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(level);
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.IncludeScopes = false;
            });
            b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            if (file is not null)
            {
                b.AddProvider(new FileLoggerProvider(file));
            }
        });
    }
}
