"""PyTorch reference for the CLI test: torchvision preprocessing + squeezenet1_1 with the given
state_dict, printing [{"image": path, "top": [{"index", "prob"}...]}] like `alexlens classify --json`."""
import json, sys
import torch, torchvision
from PIL import Image
from torchvision import transforms

weights, images = sys.argv[1], sys.argv[2:]
torch.set_num_threads(1)
model = torchvision.models.squeezenet1_1()
model.load_state_dict(torch.load(weights, map_location="cpu"))
model.eval()
tf = transforms.Compose([
    transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
out = []
with torch.no_grad():
    for path in images:
        x = tf(Image.open(path).convert("RGB")).unsqueeze(0)
        p = torch.softmax(model(x), dim=1)[0]
        v, i = p.topk(5)
        out.append({"image": path, "top": [{"index": int(a), "prob": float(b)} for a, b in zip(i, v)]})
json.dump(out, sys.stdout)
