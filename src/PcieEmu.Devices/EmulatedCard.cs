using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;

namespace PcieEmu.Devices;

/// <summary>What hosts (server, harness, replay) need of any card, whatever its model.</summary>
public interface IEmulatedCard : IDisposable
{
    CardModel Model { get; }

    PciFunction Function { get; }

    DriverRuleViolations Violations { get; }
}

/// <summary>Creates the card a model file names.</summary>
public static class CardFactory
{
    public static IEmulatedCard Create(CardModel model, ILoggerFactory loggerFactory) => model.Card switch
    {
        "pcieemu-audio" => new AudioCard.AudioCard(model, loggerFactory),
        _ => throw new CardModelException($"{model.SourcePath}: unknown card \"{model.Card}\""),
    };

    public static IEmulatedCard Load(string modelPath, ILoggerFactory loggerFactory) =>
        Create(CardModelLoader.Load(modelPath), loggerFactory);
}
