using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace PcieEmu.Pci.Checking;

/// <summary>
/// Logs each report of a checker as one line (event 2400 violation, 2401 warning, 2402 host problem), at most
/// <see cref="BurstLimit"/> lines per second: a driver looping over a broken register cannot flood the log. What
/// was held back is counted in the next line that gets through (event 2403); the checker keeps every report anyway.
/// </summary>
public sealed partial class ViolationLogging : IDisposable
{
    /// <summary>Lines per one-second window.</summary>
    public const int BurstLimit = 20;

    private readonly DriverChecker _checker;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private long _windowStart = Stopwatch.GetTimestamp();
    private int _inWindow;
    private long _suppressed;

    private ViolationLogging(DriverChecker checker, ILogger logger)
    {
        _checker = checker;
        _logger = logger;
        checker.Recorded += OnViolation;
        checker.HostProblemRecorded += OnHostProblem;
    }

    /// <summary>Logs what <paramref name="checker"/> reports from now until the returned object is disposed.</summary>
    public static ViolationLogging Attach(DriverChecker checker, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(checker);
        ArgumentNullException.ThrowIfNull(logger);
        return new ViolationLogging(checker, logger);
    }

    /// <summary>Stops logging the checker's reports.</summary>
    public void Dispose()
    {
        _checker.Recorded -= OnViolation;
        _checker.HostProblemRecorded -= OnHostProblem;
    }

    private void OnViolation(RuleViolation v)
    {
        if (Admit() is not { } held)
        {
            return;
        }

        LogHeldBack(held);
        if (v.IsViolation)
        {
            LogViolation(_logger, v.Function, v.RuleName, v.What, Where(v));
        }
        else
        {
            LogWarning(_logger, v.Function, v.RuleName, v.What, Where(v));
        }
    }

    private void OnHostProblem(HostProblem p)
    {
        if (Admit() is not { } held)
        {
            return;
        }

        LogHeldBack(held);
        LogHost(_logger, p.Function, p.Kind, p.Stream is { } s ? $"stream {s}: {p.Detail}" : p.Detail);
    }

    private void LogHeldBack(long held)
    {
        if (held > 0)
        {
            LogSuppressed(_logger, _checker.Function, held);
        }
    }

    /// <summary>Null when this line is held back; otherwise how many were held back before it.</summary>
    private long? Admit()
    {
        lock (_lock)
        {
            if (Stopwatch.GetElapsedTime(_windowStart) >= TimeSpan.FromSeconds(1))
            {
                _windowStart = Stopwatch.GetTimestamp();
                _inWindow = 0;
            }

            if (_inWindow >= BurstLimit)
            {
                _suppressed++;
                return null;
            }

            _inWindow++;
            long held = _suppressed;
            _suppressed = 0;
            return held;
        }
    }

    private static string Where(RuleViolation v)
    {
        string register = v.Details.Register ?? v.CauseRegister ?? "";
        string address = v.Details.BadAddress is { } bad ? $" first bad IOVA 0x{bad:x}" : "";
        return $"{register}{address} at {v.DeviceNanoseconds / 1e6:F3} ms device time".TrimStart();
    }

    [LoggerMessage(EventId = 2400, Level = LogLevel.Warning, Message = "{Function}: driver rule violation {Rule}: {What} ({Where})")]
    private static partial void LogViolation(ILogger logger, string function, string rule, string what, string where);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "{Function}: driver rule warning {Rule}: {What} ({Where})")]
    private static partial void LogWarning(ILogger logger, string function, string rule, string what, string where);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Warning, Message = "{Function}: host problem {Kind}: {Detail}")]
    private static partial void LogHost(ILogger logger, string function, string kind, string detail);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Warning, Message = "{Function}: {Count} driver-checker report(s) not logged (more than 20 a second); the checker kept and counted them")]
    private static partial void LogSuppressed(ILogger logger, string function, long count);
}
