from django import forms

from projects.models import Fund, ResearchArea
from projects.services.fund import AREA_FIELDS, FUND_FIELDS


class FundForm(forms.ModelForm):
    class Meta:
        model = Fund
        fields = FUND_FIELDS


class ResearchAreaForm(forms.ModelForm):
    class Meta:
        model = ResearchArea
        fields = ("code", *AREA_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["code"].disabled = True
